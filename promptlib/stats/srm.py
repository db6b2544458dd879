"""Sample-ratio mismatch: were subjects split between the variants as the weights say?

If a variant loses subjects (a crash before the outcome is sent, a bot filter, a redirect), the
users left are no longer comparable and any difference may come from who is missing. Pearson's
chi-square of the subjects exposed to each variant against the configured weights flags it; the
threshold is strict (p < 0.001) because the check runs on every look.

Counts from a HyperLogLog carry a relative standard error (Redis: 0.81%); at a hundred thousand
subjects that error is larger than the chance spread of the split itself, so each variant's
variance is widened by (relative_error · expected)². With exact counts (relative_error 0) this is
scipy.stats.chisquare exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from promptlib.stats.intervals import require

SRM_ALPHA = 0.001
# Redis HyperLogLog: 1.04 / sqrt(16384 registers).
HLL_RELATIVE_ERROR = 0.0081


@dataclass(frozen=True)
class SrmCheck:
    observed: list[int]
    expected: list[float]
    chi_square: float
    p_value: float
    failed: bool


def srm_check(
    *, observed: Sequence[int], weights: Sequence[float], relative_error: float = 0.0, alpha: float = SRM_ALPHA
) -> SrmCheck:
    require(
        len(observed) == len(weights) and len(observed) >= 2, "observed", "needs one count per variant (two or more)"
    )
    require(all(w > 0 for w in weights), "weights", "must all be positive")
    require(all(o >= 0 for o in observed), "observed", "must not be negative")
    o = np.asarray(observed, dtype=float)
    total = o.sum()
    expected = total * np.asarray(weights, dtype=float) / float(np.sum(weights))
    if total == 0:
        return SrmCheck([int(v) for v in o], expected.tolist(), 0.0, 1.0, False)
    chi_square = float(np.sum((o - expected) ** 2 / (expected + (relative_error * expected) ** 2)))
    p_value = float(stats.chi2.sf(chi_square, len(o) - 1))
    return SrmCheck([int(v) for v in o], expected.tolist(), chi_square, p_value, p_value < alpha)
