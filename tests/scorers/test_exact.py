import pytest

from promptlib.scorers import ScoreInput, ScorerConfigError, scorer_for


def _score(output, config=None, expected="Hello World"):
    return scorer_for("exact_match").score(ScoreInput(output=output, case_input={}, expected_output=expected), config)


def test_it_passes_an_identical_output():
    score = _score("Hello World")
    assert (score.metric, score.passed, score.value) == ("exact_match", True, 1.0)


def test_it_is_case_and_whitespace_sensitive_by_default():
    assert _score("hello world").passed is False
    assert _score(" Hello World\n").passed is False


def test_it_ignores_case_when_asked():
    assert _score("HELLO world", {"case_insensitive": True}).passed is True


def test_it_collapses_whitespace_when_asked():
    assert _score("  Hello \n\t World  ", {"ignore_whitespace": True}).passed is True


def test_it_shows_expected_and_actual_on_failure():
    score = _score("Bye")
    assert (score.passed, score.value) == (False, 0.0)
    assert "'Hello World'" in score.detail and "'Bye'" in score.detail


def test_a_configured_value_overrides_the_expected_output():
    assert _score("OK", {"value": "OK"}, expected="something else").passed is True


def test_it_does_not_apply_without_an_expected_output():
    score = _score("anything", expected=None)
    assert (score.passed, score.value) == (None, None)


def test_it_uses_the_configured_metric_name():
    assert _score("Hello World", {"name": "greeting_exact"}).metric == "greeting_exact"


def test_it_rejects_a_non_boolean_flag():
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("exact_match").validate_config({"case_insensitive": "yes"})
    assert exc.value.field == "case_insensitive"


def test_it_rejects_an_unknown_option():
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("exact_match").validate_config({"case_insensitve": True})
    assert exc.value.field == "case_insensitve"
    assert "case_insensitive" in exc.value.message  # lists the allowed options


def test_it_rejects_a_bad_metric_name():
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("exact_match").validate_config({"name": "task success!"})
    assert exc.value.field == "name"


def test_validate_config_is_idempotent():
    scorer = scorer_for("exact_match")
    cleaned = scorer.validate_config({"case_insensitive": True})
    assert scorer.validate_config(cleaned) == cleaned
