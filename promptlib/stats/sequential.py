"""Always-valid comparisons for production outcomes, which are watched continuously.

A fixed-sample test checked after every batch declares false winners far more often than its
alpha. The mixture sequential probability ratio test (mSPRT; Johari et al. 2017, as in
GrowthBook/Optimizely) puts a normal prior N(0, tau^2) on the difference and tracks

    Lambda = sqrt(V / (V + tau^2)) * exp(d^2 tau^2 / (2 V (V + tau^2)))

where d is the observed difference and V its variance. 1/Lambda is a p-value valid at every look
(the chance it ever drops below alpha under no difference is at most alpha), and {d : Lambda < 1/alpha}
is the matching always-valid confidence interval. tau^2 is tuned so the boundary is tightest at a
planned sample size (Howard et al. 2021): tau^2 = (-2 ln alpha + ln(1 - 2 ln alpha)) * V_planned.

Functions take per-arm aggregates and also accept numpy arrays (vectorised: the simulation in
bench/sim_sequential.py computes thousands of experiments in one call).
"""

from dataclasses import dataclass

import numpy as np

from promptlib.stats.intervals import mean_and_variance, require

METHOD = "mSPRT (mixture sequential probability ratio test), always-valid p-values — safe to look at any time"
DEFAULT_PLANNED_N = 1_000


@dataclass(frozen=True)
class SequentialComparison:
    control_value: float
    variant_value: float
    difference: float  # variant minus control
    low: float
    high: float
    p_value: float
    method: str = METHOD


def _mixture_test(difference, variance, planned_variance, alpha: float, previous_p_value):
    """(p-value, interval radius) of the normal-mixture SPRT; arrays in, arrays out."""
    tau2 = (-2 * np.log(alpha) + np.log(1 - 2 * np.log(alpha))) * planned_variance
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(variance / (variance + tau2))  # always <= 0
        log_lambda = 0.5 * log_ratio + difference**2 * tau2 / (2 * variance * (variance + tau2))
        radius = np.sqrt(2 * variance * (variance + tau2) / tau2 * (np.log(1 / alpha) - 0.5 * log_ratio))
    usable = variance > 0  # no spread yet (or one value): no evidence either way
    p_value = np.where(usable, np.minimum(1.0, np.exp(-np.where(usable, log_lambda, 0.0))), 1.0)
    return np.minimum(p_value, previous_p_value), np.where(usable, radius, np.inf)


def _result(control_value, variant_value, variance, planned_variance, alpha, previous_p_value) -> SequentialComparison:
    difference = variant_value - control_value
    p_value, radius = _mixture_test(difference, variance, planned_variance, alpha, previous_p_value)
    values = (control_value, variant_value, difference, difference - radius, difference + radius, p_value)
    if np.ndim(p_value) == 0:
        values = tuple(float(v) for v in values)
    return SequentialComparison(*values)


def sequential_rates(
    *,
    control_n,
    control_successes,
    variant_n,
    variant_successes,
    planned_n: int = DEFAULT_PLANNED_N,
    alpha: float = 0.05,
    previous_p_value=1.0,
) -> SequentialComparison:
    """Difference of success rates (variant - control) with an always-valid p-value and interval.

    `planned_n` (per arm) is where the test is most sensitive — pass the sample-size guidance.
    `previous_p_value` keeps the p-value monotone across looks: p_n = min(p_(n-1), 1/Lambda_n).
    """
    n_a, s_a, n_b, s_b = (
        np.asarray(v, dtype=float) for v in (control_n, control_successes, variant_n, variant_successes)
    )
    require(bool(np.all(n_a >= 1)), "control_n", "must be at least 1")
    require(bool(np.all(n_b >= 1)), "variant_n", "must be at least 1")
    require(bool(np.all((s_a >= 0) & (s_a <= n_a))), "control_successes", "must be between 0 and control_n")
    require(bool(np.all((s_b >= 0) & (s_b <= n_b))), "variant_successes", "must be between 0 and variant_n")
    require(planned_n >= 1, "planned_n", "must be at least 1")
    # Laplace-smoothed rates for the variance only, so 0% or 100% arms still have some spread.
    var_a = (s_a + 1) / (n_a + 2) * (1 - (s_a + 1) / (n_a + 2))
    var_b = (s_b + 1) / (n_b + 2) * (1 - (s_b + 1) / (n_b + 2))
    return _result(
        s_a / n_a,
        s_b / n_b,
        var_a / n_a + var_b / n_b,
        (var_a + var_b) / planned_n,
        alpha,
        previous_p_value,
    )


def sequential_means(
    *,
    control_n,
    control_total,
    control_total_sq,
    variant_n,
    variant_total,
    variant_total_sq,
    planned_n: int = DEFAULT_PLANNED_N,
    alpha: float = 0.05,
    previous_p_value=1.0,
) -> SequentialComparison:
    """Difference of means (variant - control) from per-arm n, sum and sum of squares."""
    n_a, t_a, q_a, n_b, t_b, q_b = (
        np.asarray(v, dtype=float)
        for v in (control_n, control_total, control_total_sq, variant_n, variant_total, variant_total_sq)
    )
    require(bool(np.all(n_a >= 1)), "control_n", "must be at least 1")
    require(bool(np.all(n_b >= 1)), "variant_n", "must be at least 1")
    require(planned_n >= 1, "planned_n", "must be at least 1")
    mean_a, var_a = mean_and_variance(n=n_a, total=t_a, total_sq=q_a)
    mean_b, var_b = mean_and_variance(n=n_b, total=t_b, total_sq=q_b)
    # An arm with one value has no variance yet (nan): treated as no spread, so no evidence.
    variance = np.nan_to_num(var_a / n_a + var_b / n_b, nan=0.0)
    planned = np.nan_to_num((var_a + var_b) / planned_n, nan=0.0)
    return _result(mean_a, mean_b, variance, planned, alpha, previous_p_value)
