import pytest

from promptlib.scorers import ScoreInput, ScorerConfigError, scorer_for


def _score(output, config, expected=None):
    return scorer_for("contains").score(ScoreInput(output=output, case_input={}, expected_output=expected), config)


def test_all_mode_needs_every_string_and_values_the_share_found():
    score = _score("Refund issued for order 42", {"strings": ["refund", "order", "apology"], "case_insensitive": True})
    # found "refund" and "order", not "apology": 2 / 3
    assert score.passed is False
    assert score.value == pytest.approx(2 / 3)
    assert "'apology'" in score.detail


def test_all_mode_passes_when_every_string_is_there():
    assert _score("Refund for order 42", {"strings": ["Refund", "order"]}).passed is True


def test_any_mode_passes_with_one_string():
    score = _score("We are sorry", {"strings": ["sorry", "apologize"], "mode": "any"})
    assert (score.passed, score.value) == (True, 0.5)


def test_any_mode_fails_with_none():
    score = _score("Hi", {"strings": ["sorry", "apologize"], "mode": "any"})
    assert (score.passed, score.value) == (False, 0.0)


def test_it_is_case_sensitive_by_default():
    assert _score("REFUND", {"strings": ["refund"]}).passed is False


def test_it_falls_back_to_the_expected_output():
    assert _score("The answer is 42, clearly.", {}, expected="42").passed is True
    assert _score("The answer is 41.", {}, expected="42").passed is False


def test_it_does_not_apply_with_nothing_to_look_for():
    assert _score("text", {}).passed is None


def test_it_rejects_an_unknown_mode():
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("contains").validate_config({"strings": ["a"], "mode": "some"})
    assert exc.value.field == "mode"


def test_it_rejects_empty_strings():
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("contains").validate_config({"strings": ["a", ""]})
    assert exc.value.field == "strings"
