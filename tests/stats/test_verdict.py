"""Each verdict state, reached from a crafted offline batch run through the real tests."""

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from promptlib.stats import (
    MetricComparison,
    StatsInputError,
    VerdictState,
    holm,
    paired_numeric,
    paired_pass_fail,
    verdict_decide,
)


def _success(variant, *, control_passes, b, c, n, p_value=None):
    """Task success of `variant` vs control from McNemar's discordant counts over n shared cases."""
    result = paired_pass_fail(b=b, c=c, n=n)
    return MetricComparison(
        variant=variant,
        metric="task_success_rate",
        control_value=control_passes / n,
        variant_value=(control_passes - b + c) / n,
        p_value=result.p_value if p_value is None else p_value,
        test=result.test,
        is_rate=True,
    )


def _latency(variant, *, control_ms, extra_ms):
    """Latency guardrail from per-case differences (lower is better)."""
    result = paired_numeric(extra_ms)
    return MetricComparison(
        variant=variant,
        metric="latency_ms",
        label="latency",
        control_value=control_ms,
        variant_value=control_ms + result.difference,
        p_value=result.p_value,
        test=result.test,
        higher_is_better=False,
        unit=" ms",
    )


def _noise(seed, size=100):
    return np.random.default_rng(seed).normal(0, 50, size=size)


def test_holm_matches_statsmodels():
    p_values = [0.01, 0.04, 0.03, 0.005, 0.2]
    assert holm(p_values) == pytest.approx(multipletests(p_values, method="holm")[1].tolist())


def test_holm_rejects_a_p_value_above_one():
    with pytest.raises(StatsInputError, match="p_values"):
        holm([0.2, 1.5])


def test_a_clearly_better_challenger_wins():
    primary = [_success("b", control_passes=71, b=2, c=15, n=100)]
    verdict = verdict_decide(primary=primary, sample_sizes={"control": 100, "b": 100})
    assert verdict.state == VerdictState.WINNER
    assert verdict.winner == "b"
    assert verdict.reason.startswith("Variant B wins: task success 84% vs 71% (+13 points, p = 0.00")
    assert verdict.reason.endswith("McNemar's test).")


def test_of_several_winning_challengers_the_best_estimate_wins():
    primary = [
        _success("b", control_passes=60, b=2, c=14, n=100),
        _success("c", control_passes=60, b=1, c=22, n=100),
    ]
    verdict = verdict_decide(primary=primary, sample_sizes={"control": 100, "b": 100, "c": 100})
    assert verdict.winner == "c"


def test_too_few_results_per_variant_means_collecting_data():
    primary = [_success("b", control_passes=14, b=0, c=6, n=20)]
    verdict = verdict_decide(primary=primary, sample_sizes={"control": 40, "b": 20})
    assert verdict.state == VerdictState.COLLECTING_DATA
    assert verdict.reason == "Collecting data: Variant B has 20 of the 30 results needed per variant."


def test_the_minimum_sample_can_be_configured():
    primary = [_success("b", control_passes=71, b=2, c=15, n=100)]
    verdict = verdict_decide(primary=primary, sample_sizes={"control": 100, "b": 100}, minimum_sample=200)
    assert verdict.state == VerdictState.COLLECTING_DATA


def test_a_small_difference_is_no_significant_difference():
    primary = [_success("b", control_passes=71, b=5, c=7, n=100)]
    verdict = verdict_decide(primary=primary, sample_sizes={"control": 100, "b": 100})
    assert verdict.state == VerdictState.NO_SIGNIFICANT_DIFFERENCE
    assert verdict.winner is None
    assert "73% vs 71% (+2 points" in verdict.reason


def test_a_better_challenger_that_slows_answers_fails_its_guardrail():
    primary = [_success("b", control_passes=71, b=2, c=15, n=100)]
    guardrails = [_latency("b", control_ms=1_400, extra_ms=700 + _noise(1))]
    verdict = verdict_decide(primary=primary, guardrails=guardrails, sample_sizes={"control": 100, "b": 100})
    assert verdict.state == VerdictState.GUARDRAIL_FAILED
    assert verdict.metric == "latency_ms"
    assert "worsens latency" in verdict.reason


def test_a_guardrail_that_holds_steady_does_not_block_the_winner():
    primary = [_success("b", control_passes=71, b=2, c=15, n=100)]
    guardrails = [_latency("b", control_ms=1_400, extra_ms=_noise(2))]
    verdict = verdict_decide(primary=primary, guardrails=guardrails, sample_sizes={"control": 100, "b": 100})
    assert verdict.state == VerdictState.WINNER


def test_a_guardrail_that_improves_does_not_block_the_winner():
    primary = [_success("b", control_passes=71, b=2, c=15, n=100)]
    guardrails = [_latency("b", control_ms=1_400, extra_ms=-300 + _noise(3))]
    verdict = verdict_decide(primary=primary, guardrails=guardrails, sample_sizes={"control": 100, "b": 100})
    assert verdict.state == VerdictState.WINNER


def test_a_clearly_worse_challenger_is_reported_as_worse():
    primary = [_success("b", control_passes=84, b=15, c=2, n=100)]
    verdict = verdict_decide(primary=primary, sample_sizes={"control": 100, "b": 100})
    assert verdict.state == VerdictState.CHALLENGER_WORSE
    assert verdict.reason.startswith("Variant B is worse than control: task success 71% vs 84% (−13 points")


def test_holm_adjustment_can_turn_marginal_wins_into_no_significant_difference():
    counts = [("b", 10, 24), ("c", 9, 21)]
    raw = [_success(key, control_passes=70, b=b, c=c, n=200) for key, b, c in counts]
    assert all(r.p_value < 0.05 for r in raw)  # alone, each would win
    adjusted = [
        _success(key, control_passes=70, b=b, c=c, n=200, p_value=p)
        for (key, b, c), p in zip(counts, holm([r.p_value for r in raw]), strict=True)
    ]
    verdict = verdict_decide(primary=adjusted, sample_sizes={"control": 200, "b": 200, "c": 200})
    assert verdict.state == VerdictState.NO_SIGNIFICANT_DIFFERENCE


def test_a_winner_beats_a_losing_challenger_in_the_same_experiment():
    primary = [
        _success("b", control_passes=71, b=2, c=15, n=100),
        _success("c", control_passes=71, b=15, c=2, n=100),
    ]
    verdict = verdict_decide(primary=primary, sample_sizes={"control": 100, "b": 100, "c": 100})
    assert verdict.winner == "b"


def test_a_verdict_needs_at_least_one_primary_comparison():
    with pytest.raises(StatsInputError, match="primary"):
        verdict_decide(primary=[], sample_sizes={"control": 100})


def test_collecting_data_names_the_control_when_it_is_short():
    primary = [_success("b", control_passes=14, b=0, c=6, n=20)]
    verdict = verdict_decide(primary=primary, sample_sizes={"control": 12, "b": 40})
    assert verdict.reason == "Collecting data: the control has 12 of the 30 results needed per variant."
