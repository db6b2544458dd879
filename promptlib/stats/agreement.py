"""Agreement between two raters (an AI grader and the people who review the same answers): Cohen's kappa.

kappa = (p_o − p_e) ÷ (1 − p_e), where p_o is the share of answers both rate alike and p_e the share
they would rate alike by chance, from each rater's own pass rate. 1 is perfect agreement, 0 no better
than chance. Its 95% interval is kappa ± z·SE with the large-sample variance of Fleiss, Cohen and
Everitt (1969), for a k×k table t (rows: one rater, columns: the other), p = t ÷ n, row shares r,
column shares c:
    var = [ Σ_i p_ii (1 − (r_i + c_i)(1 − kappa))²
            + (1 − kappa)² Σ_{i≠j} p_ij (c_i + r_j)²
            − (kappa − p_e (1 − kappa))² ] ÷ ((1 − p_e)² n)
— statsmodels.stats.inter_rater.cohens_kappa's `std_kappa`, against which the tests hold it. The
interval is clipped to [−1, 1]. Undefined (no kappa) when both raters gave one verdict only and the
same one (p_e = 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from promptlib.stats.intervals import require

Z95 = float(stats.norm.isf(0.025))


@dataclass(frozen=True)
class Kappa:
    kappa: float
    low: float
    high: float
    se: float
    agreement: float  # p_o: the share rated alike
    chance: float  # p_e: the share chance alone would rate alike
    n: int


def cohens_kappa(table: Sequence[Sequence[float]], *, confidence: float = 0.95) -> Kappa | None:
    """Cohen's (unweighted) kappa with its interval for a square table of counts; None when undefined."""
    t = np.asarray(table, dtype=float)
    require(t.ndim == 2 and t.shape[0] == t.shape[1] and t.shape[0] >= 2, "table", "must be a square table")
    require(bool(np.all(t >= 0)), "table", "counts cannot be negative")
    n = float(t.sum())
    require(n > 0, "table", "needs at least one answer rated by both")
    p = t / n
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    observed = float(np.trace(p))
    chance = float(np.sum(rows * cols))
    if chance >= 1.0 - 1e-12:
        return None
    kappa = (observed - chance) / (1 - chance)
    diagonal = np.diag(p) * (1 - (rows + cols) * (1 - kappa)) ** 2
    off = p * (cols[:, None] + rows[None, :]) ** 2
    np.fill_diagonal(off, 0.0)
    variance = (diagonal.sum() + (1 - kappa) ** 2 * off.sum() - (kappa - chance * (1 - kappa)) ** 2) / (
        (1 - chance) ** 2 * n
    )
    se = float(np.sqrt(max(variance, 0.0)))
    z = float(stats.norm.isf((1 - confidence) / 2))
    return Kappa(
        kappa=float(kappa),
        low=float(max(-1.0, kappa - z * se)),
        high=float(min(1.0, kappa + z * se)),
        se=se,
        agreement=observed,
        chance=chance,
        n=int(round(n)),
    )
