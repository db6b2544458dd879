"""Paired comparisons for offline batches, where every variant answers the same cases.

Pass/fail metrics take the 2x2 discordant counts; numeric metrics take per-case differences
(challenger minus control). With repeats, aggregate per case first (`case_means`): the per-case
mean of repeats, or the success share — shares are no longer 0/1, so compare them as numbers.
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats

from promptlib.stats.intervals import DEFAULT_RESAMPLES, bootstrap_interval, require

# Below this many discordant pairs the chi-square approximation is poor, so use the exact binomial.
EXACT_MCNEMAR_BELOW = 25


@dataclass(frozen=True)
class PairedComparison:
    difference: float  # challenger minus control
    low: float
    high: float
    p_value: float
    statistic: float
    test: str  # for the page: "McNemar's test"
    method: str  # the detail: "exact binomial", "chi-square with continuity correction"…
    n: int


def mcnemar(*, b: int, c: int) -> tuple[float, float, str]:
    """(statistic, p-value, method) — as statsmodels' mcnemar, exact when b + c < 25."""
    require(b >= 0, "b", "must not be negative")
    require(c >= 0, "c", "must not be negative")
    if b + c < EXACT_MCNEMAR_BELOW:
        statistic = min(b, c)
        return float(statistic), float(min(1.0, 2 * stats.binom.cdf(statistic, b + c, 0.5))), "exact binomial"
    statistic = (abs(b - c) - 1) ** 2 / (b + c)
    return float(statistic), float(stats.chi2.sf(statistic, 1)), "chi-square with continuity correction"


def paired_pass_fail(
    *, b: int, c: int, n: int, confidence: float = 0.95, resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> PairedComparison:
    """Challenger vs control on a pass/fail metric over n shared cases.

    b = cases the control passed and the challenger failed; c = the reverse. The difference in
    pass rate is (c - b) / n; its interval resamples cases, i.e. draws (b, c, rest) multinomially.
    """
    require(n >= 1, "n", "must be at least 1")
    require(b + c <= n, "n", "must be at least b + c")
    statistic, p_value, method = mcnemar(b=b, c=c)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, [b / n, c / n, (n - b - c) / n], size=resamples)
    tail = (1 - confidence) / 2
    low, high = np.quantile((counts[:, 1] - counts[:, 0]) / n, [tail, 1 - tail])
    return PairedComparison(
        difference=(c - b) / n,
        low=float(low),
        high=float(high),
        p_value=p_value,
        statistic=statistic,
        test="McNemar's test",
        method=method,
        n=n,
    )


def discordant_counts(*, control, challenger) -> tuple[int, int, int]:
    """(b, c, n) from per-case 0/1 outcomes of the two variants, aligned by case."""
    a = np.asarray(control, dtype=bool)
    z = np.asarray(challenger, dtype=bool)
    require(a.shape == z.shape, "challenger", "must have one outcome per control case")
    return int(np.sum(a & ~z)), int(np.sum(~a & z)), int(a.size)


def wilcoxon(differences) -> tuple[float, float, str]:
    """(statistic, p-value, method) — scipy.stats.wilcoxon with its defaults (zeros dropped)."""
    d = np.asarray(differences, dtype=float)
    if not np.any(d):  # every case tied: nothing to rank, no evidence of a difference
        return 0.0, 1.0, "no differences"
    result = stats.wilcoxon(d)
    return float(result.statistic), float(result.pvalue), _wilcoxon_method(d)


def _wilcoxon_method(d: np.ndarray) -> str:
    """Names the null distribution scipy's method='auto' picks, for the page."""
    nonzero = d[d != 0]
    clean = nonzero.size == d.size and np.unique(np.abs(d)).size == d.size  # no zeros, no ties
    if d.size <= 50 and clean:
        return "exact"
    if d.size <= 13:
        return "exact permutation"
    return "normal approximation"


def paired_numeric(
    differences, *, confidence: float = 0.95, resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> PairedComparison:
    """Challenger vs control on a numeric metric from per-case differences (challenger - control).

    Wilcoxon signed-rank for the p-value; a paired bootstrap (cases resampled) for the interval of
    the mean difference.
    """
    d = np.asarray(differences, dtype=float)
    require(d.ndim == 1 and d.size >= 1, "differences", "must be a non-empty list of numbers")
    require(bool(np.all(np.isfinite(d))), "differences", "must all be finite numbers")
    statistic, p_value, method = wilcoxon(d)
    mean, low, high = bootstrap_interval(d, confidence=confidence, resamples=resamples, seed=seed)
    return PairedComparison(
        difference=mean,
        low=low,
        high=high,
        p_value=p_value,
        statistic=statistic,
        test="Wilcoxon signed-rank test",
        method=method,
        n=int(d.size),
    )


def case_means(*, case_ids, values) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique case ids, mean value per case) — collapses repeats before pairing."""
    ids = np.asarray(case_ids)
    v = np.asarray(values, dtype=float)
    require(ids.shape == v.shape, "values", "must have one value per case id")
    unique, index = np.unique(ids, return_inverse=True)
    return unique, np.bincount(index, weights=v) / np.bincount(index)
