"""Each verdict state, reached from a crafted offline batch run through the real tests."""

from dataclasses import replace

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
    assert verdict.reason == (
        "Variant B has higher task success: 84% vs 71%. A difference this large would arise by chance only about "
        "1 time in 426."
    )
    assert verdict.detail.startswith("task success 84% vs 71% (+13 points, p = 0.00")
    assert verdict.detail.endswith("McNemar's test)")


def test_the_verdict_is_one_plain_sentence_naming_the_versions():
    primary = [
        replace(
            _success("b", control_passes=62, b=1, c=33, n=100),
            plain=("answers correctly more often", "answers correctly less often"),
            of_what="of test cases",
        )
    ]
    verdict = verdict_decide(
        primary=primary, sample_sizes={"control": 100, "b": 100}, names={"control": "Version 1", "b": "Version 3"}
    )
    assert verdict.reason == (
        "Version 3 answers correctly more often: 94% vs 62% of test cases. "
        "A difference this large is very unlikely to be chance."
    )


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
    assert "73% vs 71%, a gap that could easily be chance" in verdict.reason
    assert "73% vs 71% (+2 points" in verdict.detail


def test_a_better_challenger_that_slows_answers_fails_its_guardrail():
    primary = [_success("b", control_passes=71, b=2, c=15, n=100)]
    guardrails = [_latency("b", control_ms=1_400, extra_ms=700 + _noise(1))]
    verdict = verdict_decide(primary=primary, guardrails=guardrails, sample_sizes={"control": 100, "b": 100})
    assert verdict.state == VerdictState.GUARDRAIL_FAILED
    assert verdict.metric == "latency_ms"
    assert "but its latency is worse than allowed: 2,098 ms vs 1,400 ms" in verdict.reason


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
    assert verdict.reason.startswith("Variant B has lower task success: 71% vs 84%. A difference this large")
    assert verdict.reason.endswith("Variant “control” stays ahead.")


def test_holm_adjustment_can_turn_marginal_wins_into_no_significant_difference():
    counts = [("b", 10, 22), ("c", 9, 20)]
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


def _guardrail(variant, *, p_safe, p_harm):
    return MetricComparison(
        variant=variant, metric="latency_p95_ms", label="response time (slowest 5%)", control_value=1_000,
        variant_value=1_040, p_value=0.4, test="paired bootstrap", higher_is_better=False, unit=" ms",
        p_safe=p_safe, p_harm=p_harm, margin_text="+10%",
    )  # fmt: skip


def test_a_guardrail_not_yet_shown_within_its_margin_blocks_the_winner():
    primary = [_success("b", control_passes=71, b=2, c=15, n=100)]
    verdict = verdict_decide(
        primary=primary, guardrails=[_guardrail("b", p_safe=0.2, p_harm=0.8)], sample_sizes={"control": 100, "b": 100}
    )
    assert verdict.state == VerdictState.GUARDRAIL_NOT_SHOWN_SAFE
    assert verdict.winner is None
    assert "not yet shown that its response time (slowest 5%) stays within +10%" in verdict.reason


def test_a_guardrail_shown_within_its_margin_lets_the_winner_through():
    primary = [_success("b", control_passes=71, b=2, c=15, n=100)]
    verdict = verdict_decide(
        primary=primary, guardrails=[_guardrail("b", p_safe=0.01, p_harm=0.99)], sample_sizes={"control": 100, "b": 100}
    )
    assert verdict.state == VerdictState.WINNER


def test_a_guardrail_shown_beyond_its_margin_fails_even_if_another_is_unproven():
    primary = [_success("b", control_passes=71, b=2, c=15, n=100)]
    guardrails = [
        _guardrail("b", p_safe=0.3, p_harm=0.7),
        replace(_guardrail("b", p_safe=0.99, p_harm=0.001), metric="cost"),
    ]
    verdict = verdict_decide(primary=primary, guardrails=guardrails, sample_sizes={"control": 100, "b": 100})
    assert verdict.state == VerdictState.GUARDRAIL_FAILED
    assert verdict.metric == "cost"
    assert "(allowed: +10% at most)" in verdict.reason


def test_the_direction_comes_from_the_tested_estimate_not_the_means():
    # Means say the challenger is shorter; the typical per-case difference says longer: the test decides.
    comparison = MetricComparison(
        variant="b", metric="output_tokens", control_value=60.0, variant_value=59.1, p_value=0.004,
        test="Wilcoxon signed-rank test", higher_is_better=False, estimate=1.0, unit=" tokens",
    )  # fmt: skip
    verdict = verdict_decide(primary=[comparison], sample_sizes={"control": 60, "b": 60})
    assert verdict.state == VerdictState.CHALLENGER_WORSE
    assert "typical difference +1 tokens" in verdict.reason
