import pytest

from promptlib.scorers import ScoreInput, ScorerConfigError, scorer_for


def _score(latency_ms, cost_usd, config):
    return scorer_for("thresholds").score(
        ScoreInput(output="x", case_input={}, latency_ms=latency_ms, cost_usd=cost_usd), config
    )


def test_it_passes_at_exactly_the_limits():
    score = _score(1500, 0.002, {"max_latency_ms": 1500, "max_cost_usd": 0.002})
    assert (score.passed, score.value) == (True, 1.0)


def test_one_limit_exceeded_fails_with_half_the_checks_met():
    score = _score(1501, 0.001, {"max_latency_ms": 1500, "max_cost_usd": 0.002})
    assert (score.passed, score.value) == (False, 0.5)
    assert "latency 1501 ms > 1500 ms" in score.detail


def test_a_single_limit_is_enough():
    assert _score(99999, 0.5, {"max_cost_usd": 1}).passed is True


def test_it_needs_at_least_one_limit():
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("thresholds").validate_config({})
    assert exc.value.field == "max_latency_ms"


@pytest.mark.parametrize("bad", [-1, "fast", True])
def test_it_rejects_a_bad_limit(bad):
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("thresholds").validate_config({"max_cost_usd": bad})
    assert exc.value.field == "max_cost_usd"
