"""Estimates over cases that were run more than once: repeats of one case are not independent.

A variant's rate or mean is a ratio of per-case totals, Σ y_i / Σ n_i (successes over calls, tokens
over calls, cost over successes). Its variance comes from the per-case totals (the cluster-robust,
"sandwich" variance of a ratio estimator with the k / (k - 1) small-sample factor, as statsmodels'
OLS with cov_type="cluster"), so ten repeats of one case count as one case's worth of evidence
when they agree. With one call per case it is the usual variance.
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats

from promptlib.stats.intervals import Estimate, require


def _totals(y, n) -> tuple[np.ndarray, np.ndarray]:
    y, n = np.asarray(y, dtype=float), np.asarray(n, dtype=float)
    require(y.shape == n.shape and y.ndim == 1, "n", "must have one total per case, like y")
    keep = (n > 0) | (y != 0)  # a case that cost money without a success still counts
    return y[keep], n[keep]


def ratio_variance(y, n) -> tuple[float, float]:
    """(Σy / Σn, its cluster-robust variance) over cases; nan variance with fewer than two cases."""
    y, n = _totals(y, n)
    ratio = float(y.sum() / n.sum())
    k = y.size
    if k < 2:
        return ratio, float("nan")
    residual = y - ratio * n
    return ratio, float(np.sum(residual**2) / n.sum() ** 2 * k / (k - 1))


def clustered_mean(*, y, n, confidence: float = 0.95) -> Estimate:
    """Mean per call (Σy / Σn) with a t interval on k - 1 degrees of freedom (k cases)."""
    ratio, variance = ratio_variance(y, n)
    k = _totals(y, n)[0].size
    if not np.isfinite(variance):
        return Estimate(ratio, float("-inf"), float("inf"), k, "t interval, clustered by case")
    half = float(stats.t.isf((1 - confidence) / 2, k - 1) * np.sqrt(variance))
    return Estimate(ratio, ratio - half, ratio + half, k, "t interval, clustered by case")


def clustered_rate(*, successes, n, confidence: float = 0.95) -> Estimate:
    """Share of successes over calls with a Wilson interval on the effective number of calls.

    The design effect (clustered variance ÷ the variance if calls were independent) shrinks the
    calls to what they are worth; with one call per case it is Wilson's interval on the cases.
    """
    s, calls = _totals(successes, n)
    k = s.size
    require(k >= 1, "n", "needs at least one case")
    rate, variance = ratio_variance(s, calls)
    total = float(calls.sum())
    independent = rate * (1 - rate) / total
    if not np.isfinite(variance) or independent == 0 or np.all(calls == 1):
        effective = total
    else:
        effective = min(total, max(1.0, total * independent / variance))  # calls ÷ design effect
    z = stats.norm.isf((1 - confidence) / 2)
    denominator = 1 + z * z / effective
    centre = (rate + z * z / (2 * effective)) / denominator
    half = z * np.sqrt(rate * (1 - rate) / effective + z * z / (4 * effective**2)) / denominator
    low, high = float(max(0.0, centre - half)), float(min(1.0, centre + half))
    return Estimate(rate, low, high, k, "Wilson interval, clustered by case")


@dataclass(frozen=True)
class RatioComparison:
    control_value: float
    variant_value: float
    difference: float  # variant minus control
    low: float
    high: float
    p_value: float
    n: int


def _covariance_terms(parts: np.ndarray, gradient: np.ndarray) -> float:
    """Variance of the linear combination `gradient` · means of the per-case columns `parts`."""
    k = parts.shape[0]
    return float(gradient @ np.cov(parts, rowvar=False, ddof=1) @ gradient / k)


def paired_ratio(*, control_y, control_n, variant_y, variant_n, margin: float = 0.0, confidence: float = 0.95):
    """Σy_b/Σn_b − (1 + margin)·Σy_a/Σn_a over cases both variants ran, by the delta method.

    For cost per successful answer y is the cost and n the successes of each case. Per-case totals of
    both variants are the unit, so the pairing (a hard case is costly for both) is kept.
    Returns (RatioComparison of the plain difference, z of the margin-shifted difference).
    """
    parts = np.column_stack([np.asarray(v, dtype=float) for v in (control_y, control_n, variant_y, variant_n)])
    require(parts.shape[0] >= 2, "control_y", "needs at least two cases")
    ya, na, yb, nb = parts.mean(axis=0)
    require(na > 0 and nb > 0, "control_n", "needs at least one success per variant")
    ra, rb = ya / na, yb / nb
    z = stats.norm.isf((1 - confidence) / 2)

    def spread(factor: float) -> tuple[float, float]:
        value = rb - factor * ra
        gradient = np.array([-factor / na, factor * ra / na, 1 / nb, -rb / nb])
        return value, np.sqrt(max(0.0, _covariance_terms(parts, gradient)))

    difference, se = spread(1.0)
    p_value = float(2 * stats.norm.sf(abs(difference) / se)) if se > 0 else float(difference == 0)
    comparison = RatioComparison(ra, rb, difference, difference - z * se, difference + z * se, p_value, parts.shape[0])
    shifted, se_m = spread(1.0 + margin)
    # With no spread at all, the sign decides.
    no_spread = 0.0 if shifted == 0 else float(np.copysign(np.inf, shifted))
    z_margin = shifted / se_m if se_m > 0 else no_spread
    return comparison, float(z_margin)


def ratio_estimate(*, y, n, confidence: float = 0.95) -> Estimate:
    """A per-variant ratio (cost per success) with its clustered delta-method interval."""
    return clustered_mean(y=y, n=n, confidence=confidence)
