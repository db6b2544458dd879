"""Paired comparisons for offline batches, where every variant answers the same cases.

Pass/fail metrics take the 2x2 discordant counts; numeric metrics take per-case differences
(challenger minus control). With repeats, aggregate per case first (`case_means`): the per-case
mean of repeats, or the success share — shares are no longer 0/1, so compare them as numbers.
"""

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from promptlib.stats.intervals import require

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


def mcnemar_score(*, b: int, c: int) -> float:
    """Two-sided p of McNemar's chi-square without continuity correction — Tango's score test at 0."""
    if b + c == 0:
        return 1.0
    return float(stats.chi2.sf((c - b) ** 2 / (b + c), 1))


def tango_statistic(*, b: int, c: int, n: int, delta):
    """Tango's (1998) score statistic for H0: difference (c - b) / n = delta; arrays of delta work.

    The nuisance parameter (the share of cases the control passes and the challenger fails) is its
    maximum-likelihood value under H0, the root of a quadratic. At delta = 0 it is McNemar's z.
    """
    delta = np.asarray(delta, dtype=float)
    a_ = 2.0 * n
    b_ = -b - c + (2.0 * n - c + b) * delta
    c_ = -b * delta * (1 - delta)
    q = (-b_ + np.sqrt(np.maximum(0.0, b_ * b_ - 4 * a_ * c_))) / (2 * a_)  # share control-only passes
    variance = n * (2 * q + delta * (1 - delta))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (c - b - n * delta) / np.sqrt(variance)
    return np.where(
        variance > 0, z, np.where(c - b - n * delta > 0, np.inf, np.where(c - b == n * delta, 0.0, -np.inf))
    )


def tango_interval(*, b: int, c: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Tango's score interval for the paired difference (c - b) / n: every delta the score test keeps."""
    z = stats.norm.isf((1 - confidence) / 2)
    estimate = (c - b) / n
    edge = 1 - 1e-12

    def score(delta: float) -> float:  # decreasing in delta
        return float(tango_statistic(b=b, c=c, n=n, delta=delta))

    low = optimize.brentq(lambda d: score(d) - z, -edge, estimate, xtol=1e-12) if score(-edge) > z else -1.0
    high = optimize.brentq(lambda d: score(d) + z, estimate, edge, xtol=1e-12) if score(edge) < -z else 1.0
    return float(low), float(high)


def conditional_exact_interval(*, b: int, c: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact binomial test's own interval: Clopper–Pearson for c / (b + c), mapped to (c - b) / n.

    The test is two-sided with doubled tails, so 0 lies outside this interval exactly when p < alpha.
    """
    m = b + c
    if m == 0:
        return 0.0, 0.0
    tail = (1 - confidence) / 2
    low = stats.beta.ppf(tail, c, b + 1) if c > 0 else 0.0
    high = stats.beta.isf(tail, c + 1, b) if b > 0 else 1.0
    return float(m / n * (2 * low - 1)), float(m / n * (2 * high - 1))


def paired_pass_fail(*, b: int, c: int, n: int, confidence: float = 0.95) -> PairedComparison:
    """Challenger vs control on a pass/fail metric over n shared cases.

    b = cases the control passed and the challenger failed; c = the reverse; the difference in pass
    rate is (c - b) / n. The interval is the one of the test that gives the p-value, so the two always
    agree: below 25 discordant cases the exact binomial test with its Clopper–Pearson interval, above
    McNemar's chi-square (no continuity correction) with Tango's score interval, which inverts it.
    """
    require(n >= 1, "n", "must be at least 1")
    require(b >= 0 and c >= 0, "b", "must not be negative")
    require(b + c <= n, "n", "must be at least b + c")
    if b + c < EXACT_MCNEMAR_BELOW:
        statistic, p_value, method = mcnemar(b=b, c=c)
        low, high = conditional_exact_interval(b=b, c=c, n=n, confidence=confidence)
        method = "exact binomial; Clopper–Pearson interval"
    else:
        statistic, p_value = (c - b) ** 2 / (b + c), mcnemar_score(b=b, c=c)
        low, high = tango_interval(b=b, c=c, n=n, confidence=confidence)
        method = "chi-square; Tango's score interval"
    return PairedComparison(
        difference=(c - b) / n,
        low=low,
        high=high,
        p_value=p_value,
        statistic=float(statistic),
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


def signed_rank_cdf(n: int) -> np.ndarray:
    """P(W+ <= t) for t = 0 .. n(n+1)/2 under no difference, n distinct non-zero ranks (exact)."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for rank in range(1, n + 1):  # each rank is in the positive sum or not
        counts[rank:] = counts[rank:] + counts[:-rank].copy()
    return np.cumsum(counts) / 2.0**n


def hodges_lehmann(differences, *, confidence: float = 0.95) -> tuple[float, float, float]:
    """(estimate, low, high): the median of the Walsh averages and the interval the signed-rank test keeps.

    Zeros are dropped first, as the test drops them (scipy's default). With the exact null
    distribution (as scipy uses for at most 50 distinct non-zero differences) or the normal one with
    its tie correction, 0 lies outside the interval exactly when the test's p-value is below
    1 - confidence: the count of Walsh averages below 0 is the signed-rank statistic.
    """
    d = np.asarray(differences, dtype=float)
    d = d[d != 0]
    if d.size == 0:
        return 0.0, 0.0, 0.0
    i, j = np.triu_indices(d.size)
    walsh = np.sort((d[i] + d[j]) / 2)
    total = walsh.size
    alpha = 1 - confidence
    if d.size <= 50 and np.unique(np.abs(d)).size == d.size:
        cdf = signed_rank_cdf(d.size)
        critical = int(np.searchsorted(2 * cdf, alpha, side="right")) - 1  # largest t with 2 P(W <= t) <= alpha
    else:
        _, ties = np.unique(np.abs(d), return_counts=True)
        n = d.size
        sd = np.sqrt(n * (n + 1) * (2 * n + 1) / 24 - np.sum(ties**3 - ties) / 48)
        critical = int(np.floor(total / 2 - stats.norm.isf(alpha / 2) * sd))
    if critical < 0:  # too few cases for this confidence: the interval is unbounded
        return float(np.median(walsh)), float("-inf"), float("inf")
    return float(np.median(walsh)), float(walsh[critical]), float(walsh[total - critical - 1])


def paired_t(differences, *, confidence: float = 0.95) -> PairedComparison:
    """The mean per-case difference with the paired t-test and its t interval (as scipy's ttest_rel)."""
    d = np.asarray(differences, dtype=float)
    require(d.ndim == 1 and d.size >= 2, "differences", "needs at least two cases")
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0:
        p_value = 1.0 if mean == 0 else 0.0
        return PairedComparison(mean, mean, mean, p_value, 0.0, "paired t-test", "every case differs equally", d.size)
    se = sd / np.sqrt(d.size)
    t = mean / se
    half = float(stats.t.isf((1 - confidence) / 2, d.size - 1) * se)
    p_value = float(2 * stats.t.sf(abs(t), d.size - 1))
    return PairedComparison(mean, mean - half, mean + half, p_value, float(t), "paired t-test", "t interval", d.size)


# Above this many cases the mean difference with the paired t-test: the signed-rank test's Walsh
# averages grow as n², and with this many cases the t-test is sound by the central limit theorem.
SIGNED_RANK_BELOW = 500


def paired_numeric(differences, *, confidence: float = 0.95) -> PairedComparison:
    """Challenger vs control on a numeric metric from per-case differences (challenger - control).

    The estimate always comes from the test that gives the p-value: the Wilcoxon signed-rank test
    with the Hodges–Lehmann estimate (the typical per-case difference) and its interval; on many
    cases the paired t-test with the mean difference.
    """
    d = np.asarray(differences, dtype=float)
    require(d.ndim == 1 and d.size >= 1, "differences", "must be a non-empty list of numbers")
    require(bool(np.all(np.isfinite(d))), "differences", "must all be finite numbers")
    if d.size >= SIGNED_RANK_BELOW:
        return paired_t(d, confidence=confidence)
    statistic, p_value, method = wilcoxon(d)
    estimate, low, high = hodges_lehmann(d, confidence=confidence)
    return PairedComparison(
        difference=estimate,
        low=low,
        high=high,
        p_value=p_value,
        statistic=statistic,
        test="Wilcoxon signed-rank test",
        method=f"{method}; Hodges–Lehmann estimate (the typical per-case difference)",
        n=int(d.size),
    )


def case_means(*, case_ids, values) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique case ids, mean value per case) — collapses repeats before pairing."""
    ids = np.asarray(case_ids)
    v = np.asarray(values, dtype=float)
    require(ids.shape == v.shape, "values", "must have one value per case id")
    unique, index = np.unique(ids, return_inverse=True)
    return unique, np.bincount(index, weights=v) / np.bincount(index)
