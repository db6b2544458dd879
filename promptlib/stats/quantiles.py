"""Percentiles compared case by case: latency p50 / p95 of a challenger against the control.

A paired bootstrap over cases: cases are resampled together (both variants answered the same case),
each variant's percentile computed on every resample. The p-value and the interval come from the
same draws (normal bootstrap: the estimate ± z · the draws' spread), so they always agree, and a
p-value can be smaller than 1 / resamples (Holm's correction needs them).
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats

from promptlib.stats.intervals import require

RESAMPLES = 500  # the spread of the draws is all that is used: 500 give it within about 3%
# Above this many cases, resample a seeded subset of m cases and scale the spread by sqrt(m / n) (a
# percentile's standard error shrinks as 1 / sqrt(n)), so 10,000 cases cost what 500 do.
MAX_CASES = 500
# A percentile needs at least this many cases beyond it (5 above p95: 100 cases) before its
# bootstrap is trustworthy; with fewer, p95 intervals from 30 cases cover far less than 95%.
CASES_BEYOND = 5


@dataclass(frozen=True)
class QuantileDraws:
    """Bootstrap draws of one percentile, [variant, resample], from the same resampled cases."""

    fraction: float
    estimates: np.ndarray  # per variant, on all cases
    draws: np.ndarray
    n: int


def minimum_cases(fraction: float) -> int:
    return int(np.ceil(CASES_BEYOND / min(fraction, 1 - fraction)))


def quantile_draws(
    values, *, fractions: tuple[float, ...], resamples: int = RESAMPLES, seed: int = 0
) -> list[QuantileDraws]:
    """One QuantileDraws per fraction; `values` is [variant, case] (no nan: cases every variant answered).

    A resample is drawn as how often each case appears; a variant's percentile on it is then read
    from its cases in sorted order (the counts summed in that order), without sorting the resample:
    two order statistics interpolated linearly, as numpy's default percentile.
    """
    x = np.asarray(values, dtype=float)
    require(x.ndim == 2 and x.shape[1] >= 1, "values", "must be [variant, case] with at least one case")
    require(all(0 < f < 1 for f in fractions), "fractions", "must be between 0 and 1")
    rng = np.random.default_rng(seed)
    n = x.shape[1]
    sample, scale = x, 1.0
    if n > MAX_CASES:
        sample = x[:, rng.choice(n, size=MAX_CASES, replace=False)]
        scale = float(np.sqrt(MAX_CASES / n))
    m = sample.shape[1]
    picks = rng.integers(0, m, size=(resamples, m)) + m * np.arange(resamples)[:, None]
    counts = np.bincount(picks.ravel(), minlength=resamples * m).reshape(resamples, m)
    draws = np.empty((len(fractions), x.shape[0], resamples))
    for v in range(x.shape[0]):
        order = np.argsort(sample[v], kind="stable")
        sorted_x, cumulative = sample[v, order], np.cumsum(counts[:, order], axis=1)
        for i, fraction in enumerate(fractions):
            h = (m - 1) * fraction
            # The k-th smallest (1-based) of a resample sits where its cumulative count reaches k.
            low = sorted_x[np.sum(cumulative < int(np.floor(h)) + 1, axis=1)]
            high = sorted_x[np.sum(cumulative < int(np.ceil(h)) + 1, axis=1)]
            draws[i, v] = low + (h - np.floor(h)) * (high - low)
    result = []
    for i, fraction in enumerate(fractions):
        centre = np.quantile(sample, fraction, axis=1)
        estimates = np.quantile(x, fraction, axis=1)
        # Recentred on the full-sample estimate: only the spread is taken from the subset.
        result.append(QuantileDraws(fraction, estimates, estimates[:, None] + (draws[i] - centre[:, None]) * scale, n))
    return result


@dataclass(frozen=True)
class QuantileComparison:
    difference: float  # challenger minus control
    low: float
    high: float
    p_value: float
    se: float
    n: int


def quantile_difference(q: QuantileDraws, *, control: int, challenger: int, confidence: float = 0.95):
    """The challenger's percentile minus the control's, with a normal-bootstrap interval and p-value."""
    difference = float(q.estimates[challenger] - q.estimates[control])
    se = float(np.std(q.draws[challenger] - q.draws[control], ddof=1))
    if se == 0:
        p_value = 1.0 if difference == 0 else 0.0
        return QuantileComparison(difference, difference, difference, p_value, 0.0, q.n)
    half = float(stats.norm.isf((1 - confidence) / 2) * se)
    p_value = float(2 * stats.norm.sf(abs(difference) / se))
    return QuantileComparison(difference, difference - half, difference + half, p_value, se, q.n)


def quantile_margin_p(q: QuantileDraws, *, control: int, challenger: int, margin: float) -> tuple[float, float]:
    """(p that the challenger is within the margin, p that it is beyond it) for a lower-is-better
    percentile: H0 challenger >= (1 + margin) × control, and the reverse; one-sided, from the draws."""
    excess = q.estimates[challenger] - (1 + margin) * q.estimates[control]
    se = float(np.std(q.draws[challenger] - (1 + margin) * q.draws[control], ddof=1))
    if se == 0:
        return (0.0, 1.0) if excess < 0 else (1.0, 0.0 if excess > 0 else 1.0)
    z = float(excess) / se
    return float(stats.norm.cdf(z)), float(stats.norm.sf(z))
