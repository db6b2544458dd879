"""The paired tests of the offline section, one per kind of figure, on per-case arrays [variant, case].

Pure functions (no database): the offline section calls them on its per-case matrix, and the
simulations (tests/analysis/test_simulation_offline.py, bench/sim_offline.py) call them directly.
"""

from __future__ import annotations

import numpy as np

from promptlib.analysis.compare import is_higher_better
from promptlib.experiments.margins import Margin
from promptlib.experiments.metrics import METRICS
from promptlib.stats import (
    MarginTest,
    PairedComparison,
    StatsInputError,
    discordant_counts,
    margin_from_z,
    margin_means,
    margin_pass_fail,
    paired_numeric,
    paired_pass_fail,
    paired_ratio,
    paired_t,
    quantile_difference,
    quantile_draws,
    quantile_margin_p,
)
from promptlib.stats.quantiles import QuantileDraws, minimum_cases

QUANTILES = {"latency_p50_ms": 0.5, "latency_p95_ms": 0.95}


def cases_both(control: np.ndarray, challenger: np.ndarray) -> np.ndarray:
    return np.isfinite(control) & np.isfinite(challenger)


def is_pass_fail(c: np.ndarray, v: np.ndarray) -> bool:
    return bool(np.isin(c, (0, 1)).all() and np.isin(v, (0, 1)).all())


def paired_compare(metric: str, control: np.ndarray, challenger: np.ndarray) -> PairedComparison | None:
    """The paired test of one per-case metric; None when there is nothing to test."""
    both = cases_both(control, challenger)
    c, v = control[both], challenger[both]
    if c.size < 2:
        return None
    if METRICS[metric].kind == "rate":
        if is_pass_fail(c, v):
            b, c_, n = discordant_counts(control=c, challenger=v)
            return paired_pass_fail(b=b, c=c_, n=n)
        # Shares of repeats: their mean difference is the difference of the rates shown.
        return paired_t(v - c)
    return paired_numeric(v - c)


def case_costs(cases: dict) -> np.ndarray:
    """What each case cost, the numerator of cost per success (promptlib.experiments.metrics): model calls
    (retries and failed calls included), judge calls and review time."""
    review = cases.get("review_cost_sum")
    return cases["cost_sum"] + cases["judge_cost_sum"] + (0.0 if review is None else review)


def cost_comparison(cases: dict, control_i: int, i: int, *, margin: float = 0.0):
    """(comparison of cost per success, z of the excess over the margin) over the cases both ran."""
    both = cases_both(cases["calls"][control_i], cases["calls"][i])
    cost = case_costs(cases)
    try:
        result, z = paired_ratio(
            control_y=cost[control_i][both], control_n=cases["successes"][control_i][both],
            variant_y=cost[i][both], variant_n=cases["successes"][i][both], margin=margin,
        )  # fmt: skip
    except StatsInputError:
        return None, None
    comparison = PairedComparison(
        difference=result.difference, low=result.low, high=result.high, p_value=result.p_value, statistic=0.0,
        test="delta method (ratio)", method="Σ cost ÷ Σ successes per variant over the same cases", n=result.n,
    )  # fmt: skip
    return comparison, z


def latency_draws(case_values: dict, variants) -> tuple[dict[str, QuantileDraws], int]:
    """Bootstrap draws of p50 and p95 over the cases every variant answered, and their number."""
    latency = case_values.get("latency_p50_ms")
    if latency is None:
        return {}, 0
    common = np.isfinite(latency).all(axis=0)
    n = int(common.sum())
    if n < 2:
        return {}, n
    draws = quantile_draws(latency[:, common], fractions=tuple(QUANTILES.values()))
    return dict(zip(QUANTILES, draws, strict=True)), n


def quantile_comparison(metric: str, draws: dict, n: int, control_i: int, i: int) -> PairedComparison | None:
    if metric not in draws or n < minimum_cases(QUANTILES[metric]):
        return None
    q = quantile_difference(draws[metric], control=control_i, challenger=i)
    return PairedComparison(
        difference=q.difference, low=q.low, high=q.high, p_value=q.p_value, statistic=0.0,
        test="paired bootstrap", method=f"percentile difference, cases resampled together ({n:,} cases)", n=n,
    )  # fmt: skip


def margin_test(metric: str, margin: Margin, *, case_values, cases, draws, n_draws, control_i, i) -> MarginTest | None:
    """Is the challenger shown to stay within the margin on this guardrail (and is it shown beyond)?"""
    info = METRICS[metric]
    if metric in QUANTILES:
        if metric not in draws or n_draws < minimum_cases(QUANTILES[metric]):
            return MarginTest(p_safe=1.0, p_harm=1.0)  # too few cases to show either
        return MarginTest(*quantile_margin_p(draws[metric], control=control_i, challenger=i, margin=margin.value))
    if metric == "cost_per_success_usd":
        _, z = cost_comparison(cases, control_i, i, margin=margin.value)
        return None if z is None else margin_from_z(z)
    if metric not in case_values:
        return None
    control, challenger = case_values[metric][control_i], case_values[metric][i]
    both = cases_both(control, challenger)
    c, v = control[both], challenger[both]
    if c.size < 2:
        return None
    if info.kind == "rate" and not margin.relative and is_pass_fail(c, v):
        b, c_, n = discordant_counts(control=c, challenger=v)
        return margin_pass_fail(b=b, c=c_, n=n, margin=margin.value, higher_is_better=is_higher_better(info))
    return margin_means(c, v, margin=margin.value, relative=margin.relative, higher_is_better=is_higher_better(info))
