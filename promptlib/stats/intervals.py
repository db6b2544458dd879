"""Per-variant estimates with 95% intervals, computed from aggregates.

Rates come in as (n, successes), means as (n, total, total of squares) so a caller can get them
with one SQL aggregate. Medians need values, so they take a sample and bootstrap it.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

DEFAULT_RESAMPLES = 2_000
# Bootstraps of means run on at most this many values so the cost stays bounded (see bootstrap_interval).
MAX_BOOTSTRAP_VALUES = 2_000


class StatsInputError(ValueError):
    """Bad input to a statistic; the message names the field and the problem."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


def require(condition: bool, field: str, problem: str) -> None:
    if not condition:
        raise StatsInputError(field, problem)


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    n: int
    method: str


def rate_estimate(*, n: int, successes: int, confidence: float = 0.95) -> Estimate:
    """Share of successes with a Wilson score interval (sound near 0% and 100%, unlike Wald)."""
    require(n >= 0, "n", "must not be negative")
    require(0 <= successes <= n, "successes", "must be between 0 and n")
    if n == 0:
        return Estimate(value=float("nan"), low=0.0, high=1.0, n=0, method="Wilson score interval")
    z = stats.norm.isf((1 - confidence) / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Estimate(
        value=p,
        low=float(max(0.0, centre - half)),
        high=float(min(1.0, centre + half)),
        n=n,
        method="Wilson score interval",
    )


def mean_and_variance(*, n, total, total_sq) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample variance (n - 1 denominator) from n, sum and sum of squares; arrays work.

    The variance is nan where n < 2 (one value has no spread yet).
    """
    n, total, total_sq = (np.asarray(v, dtype=float) for v in (n, total, total_sq))
    mean = total / n
    with np.errstate(divide="ignore", invalid="ignore"):
        # Clamp: rounding can leave a tiny negative number when all values are equal.
        variance = np.where(n > 1, np.maximum(0.0, (total_sq - total * mean) / (n - 1)), np.nan)
    return mean, variance


def mean_estimate(*, n: int, total: float, total_sq: float, confidence: float = 0.95) -> Estimate:
    """Mean with a Student t interval."""
    require(n >= 1, "n", "must be at least 1")
    mean, variance = (float(v) for v in mean_and_variance(n=n, total=total, total_sq=total_sq))
    if n < 2:
        return Estimate(value=mean, low=float("-inf"), high=float("inf"), n=n, method="t interval")
    half = float(stats.t.isf((1 - confidence) / 2, n - 1) * np.sqrt(variance / n))
    return Estimate(value=mean, low=mean - half, high=mean + half, n=n, method="t interval")


def bootstrap_interval(
    values,
    *,
    statistic: Callable[..., np.ndarray] = np.mean,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    max_values: int = MAX_BOOTSTRAP_VALUES,
) -> tuple[float, float, float]:
    """(estimate, low, high) by the percentile bootstrap; `statistic(a, axis=-1)` like np.mean.

    Above `max_values` the resampling runs on a seeded random subset of m values and the spread
    around the subset's estimate is scaled by sqrt(m / n) (the standard error of a mean shrinks
    as 1/sqrt(n)), so 100k values cost the same as 2k while the interval keeps the full width.
    """
    x = np.asarray(values, dtype=float)
    require(x.ndim == 1 and x.size >= 1, "values", "must be a non-empty list of numbers")
    rng = np.random.default_rng(seed)
    estimate = float(statistic(x, axis=-1))
    sample, scale = x, 1.0
    if x.size > max_values:
        sample = rng.choice(x, size=max_values, replace=False)
        scale = np.sqrt(max_values / x.size)
    centre = float(statistic(sample, axis=-1))
    draws = statistic(sample[rng.integers(0, sample.size, size=(resamples, sample.size))], axis=-1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return estimate, float(estimate + (low - centre) * scale), float(estimate + (high - centre) * scale)


def median_estimate(values, *, confidence: float = 0.95, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Estimate:
    """Median (e.g. latency) with a percentile-bootstrap interval.

    A resample's median is an order statistic of n uniform draws, and the k-th smallest of n
    uniforms is Beta(k, n - k + 1) — so each bootstrap median is drawn directly in O(1), exactly
    as if n values had been resampled, and a million values cost one sort.
    """
    x = np.sort(np.asarray(values, dtype=float))
    require(x.ndim == 1 and x.size >= 1, "values", "must be a non-empty list of numbers")
    n = x.size
    rng = np.random.default_rng(seed)
    k = (n + 1) // 2  # lower middle position, 1-based
    lower_u = rng.beta(k, n - k + 1, size=resamples)
    lower = x[np.minimum((lower_u * n).astype(int), n - 1)]
    if n % 2:
        draws = lower
    else:
        # The next order statistic is the smallest of the n - k uniforms above the k-th one.
        upper_u = lower_u + (1 - lower_u) * rng.beta(1, n - k, size=resamples)
        draws = (lower + x[np.minimum((upper_u * n).astype(int), n - 1)]) / 2
    tail = (1 - confidence) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return Estimate(value=float(np.median(x)), low=float(low), high=float(high), n=n, method="bootstrap (median)")
