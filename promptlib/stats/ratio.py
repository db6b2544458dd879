"""Per-subject ratio metrics: events are averaged per subject, because subjects are what is randomised.

A subject (an end user) reports several outcomes, and one person's outcomes are alike. Treating each
event as independent understates the noise (with 1 + Poisson(4) events per subject and a
within-subject correlation of 0.3, about 2.4 times), and a test then finds false winners. So the
metric is a ratio over subjects, R = Σ y_i / Σ n_i (y_i: the sum of a subject's values, n_i: its event
count) — the same number as the mean per event — and its variance comes from the delta method:

    Var(R) ≈ (s_y² − 2 R s_yn + R² s_n²) / (k · n̄²)

with k subjects, n̄ their mean event count and s_y², s_n², s_yn the sample (co)variances over
subjects. It equals the cluster-robust variance of the mean per event (statsmodels' OLS on a constant
with cov_type="cluster" by subject), which the tests check. Only sums over subjects are needed, so
the SQL hands over six numbers per arm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from promptlib.stats.intervals import Estimate, require
from promptlib.stats.sequential import DEFAULT_PLANNED_N, SequentialComparison, _result

METHOD = "mean per event, with its noise measured across users (delta method), so repeat events of one user count once"


@dataclass(frozen=True)
class SubjectSums:
    """Sums over the subjects of one arm; fields may be numpy arrays (many experiments at once)."""

    subjects: object  # k
    events: object  # Σ n_i
    events_sq: object  # Σ n_i²
    total: object  # Σ y_i
    total_sq: object  # Σ y_i²
    cross: object  # Σ y_i n_i


def subject_sums(values_per_subject) -> SubjectSums:
    """The sums from raw values, one sequence per subject (the reference the SQL is tested against)."""
    n = np.array([len(v) for v in values_per_subject], dtype=float)
    y = np.array([float(np.sum(v)) for v in values_per_subject], dtype=float)
    return SubjectSums(len(n), n.sum(), (n * n).sum(), y.sum(), (y * y).sum(), (y * n).sum())


def ratio_moments(s: SubjectSums):
    """(R, per-subject variance of the linearised metric, variance of R); arrays in, arrays out.

    The variances are nan with fewer than two subjects (no spread yet).
    """
    k, n_sum, n_sq, y_sum, y_sq, yn = (np.asarray(v, dtype=float) for v in _fields(s))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = y_sum / n_sum
        mean_n, mean_y = n_sum / k, y_sum / k
        var_y = (y_sq - k * mean_y**2) / (k - 1)
        var_n = (n_sq - k * mean_n**2) / (k - 1)
        cov = (yn - k * mean_y * mean_n) / (k - 1)
        # Clamp: rounding can leave a tiny negative number when every subject looks alike.
        linear = np.where(k > 1, np.maximum(0.0, (var_y - 2 * ratio * cov + ratio**2 * var_n) / mean_n**2), np.nan)
    return ratio, linear, linear / k


def _fields(s: SubjectSums):
    return (s.subjects, s.events, s.events_sq, s.total, s.total_sq, s.cross)


def ratio_estimate(s: SubjectSums, *, is_rate: bool = False, confidence: float = 0.95) -> Estimate:
    """The mean per event with a normal interval whose width counts subjects, not events (clipped to 0..1 for rates)."""
    require(int(s.subjects) >= 1, "subjects", "must be at least 1")
    ratio, _, variance = (float(v) for v in ratio_moments(s))
    if not np.isfinite(variance):
        return Estimate(value=ratio, low=float("-inf"), high=float("inf"), n=int(s.subjects), method=METHOD)
    half = float(stats.norm.isf((1 - confidence) / 2) * np.sqrt(variance))
    low, high = ratio - half, ratio + half
    if is_rate:
        low, high = max(0.0, low), min(1.0, high)
    return Estimate(value=ratio, low=low, high=high, n=int(s.subjects), method=METHOD)


def sequential_ratios(
    *,
    control: SubjectSums,
    variant: SubjectSums,
    planned_n: int = DEFAULT_PLANNED_N,
    alpha: float = 0.05,
    previous_p_value=1.0,
) -> SequentialComparison:
    """Difference of per-subject ratios (variant − control) with the mSPRT's always-valid p-value.

    `planned_n` is in subjects per arm. Arrays work (bench/ and the simulation tests run thousands).
    """
    require(bool(np.all(np.asarray(control.subjects) >= 1)), "control", "needs at least one subject")
    require(bool(np.all(np.asarray(variant.subjects) >= 1)), "variant", "needs at least one subject")
    require(planned_n >= 1, "planned_n", "must be at least 1")
    ratio_a, linear_a, var_a = ratio_moments(control)
    ratio_b, linear_b, var_b = ratio_moments(variant)
    variance = np.nan_to_num(var_a + var_b, nan=0.0)
    planned = np.nan_to_num((linear_a + linear_b) / planned_n, nan=0.0)
    return _result(ratio_a, ratio_b, variance, planned, alpha, previous_p_value)


def chance_better(*, difference: float, variance: float, higher_is_better: bool) -> float | None:
    """Chance the variant is truly better (flat prior, normal posterior of the difference)."""
    if not (np.isfinite(variance) and variance > 0):
        return None
    z = difference / np.sqrt(variance)
    return float(stats.norm.cdf(z if higher_is_better else -z))
