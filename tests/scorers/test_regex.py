import pytest

from promptlib.scorers import ScoreInput, ScorerConfigError, scorer_for


def _score(output, config):
    return scorer_for("regex").score(ScoreInput(output=output, case_input={}), config)


def test_it_passes_when_the_pattern_is_found():
    score = _score("Your ticket is TCK-1234.", {"pattern": r"TCK-\d{4}"})
    assert (score.passed, score.value) == (True, 1.0)
    assert "TCK-1234" in score.detail


def test_it_fails_when_the_pattern_is_absent():
    assert _score("No ticket", {"pattern": r"TCK-\d{4}"}).passed is False


def test_full_match_needs_the_whole_output():
    assert _score("TCK-1234 thanks", {"pattern": r"TCK-\d{4}", "full_match": True}).passed is False
    assert _score("TCK-1234", {"pattern": r"TCK-\d{4}", "full_match": True}).passed is True


def test_case_insensitive_flag():
    assert _score("tck-1234", {"pattern": r"TCK-\d{4}", "case_insensitive": True}).passed is True


def test_must_not_match_fails_on_a_match():
    score = _score("Call 555-0100", {"pattern": r"\d{3}-\d{4}", "must_match": False})
    assert score.passed is False
    assert "not allowed" in score.detail


def test_must_not_match_passes_without_a_match():
    assert _score("No phone here", {"pattern": r"\d{3}-\d{4}", "must_match": False}).passed is True


def test_an_invalid_pattern_is_a_config_error_naming_the_field():
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("regex").validate_config({"pattern": "([a-z]+"})
    assert exc.value.field == "pattern"
    assert "missing ), unterminated subpattern at position 0" in exc.value.message


def test_an_invalid_pattern_is_a_config_error_at_score_time_too():
    with pytest.raises(ScorerConfigError):
        _score("x", {"pattern": "*oops"})


def test_a_missing_pattern_is_a_config_error():
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("regex").validate_config({})
    assert exc.value.field == "pattern"
