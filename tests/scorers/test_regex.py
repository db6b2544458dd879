import time

import pytest

from promptlib.scorers import ScoreInput, ScorerConfigError, scorer_for
from promptlib.scorers.regex import MAX_OUTPUT, MAX_PATTERN


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
    assert "missing )" in exc.value.message


def test_an_invalid_pattern_is_a_config_error_at_score_time_too():
    with pytest.raises(ScorerConfigError):
        _score("x", {"pattern": "*oops"})


def test_a_missing_pattern_is_a_config_error():
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("regex").validate_config({})
    assert exc.value.field == "pattern"


# --- attacks: catastrophic backtracking, unsupported syntax, sizes ---------------------------------


def test_catastrophic_backtracking_runs_in_linear_time():
    # Python's re takes ~10 s per item on 27 a's; RE2 answers at once, even on 50,000 a's.
    started = time.perf_counter()
    for output in ("a" * 27 + "!", "a" * 40 + "!", "a" * 50_000 + "!"):
        assert _score(output, {"pattern": "(a+)+$"}).passed is False
    assert time.perf_counter() - started < 1.0


def test_a_backreference_is_refused_when_saved_saying_re2_lacks_it():
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("regex").validate_config({"pattern": r"(a)\1"})
    assert exc.value.field == "pattern"
    assert "backreferences" in exc.value.message


def test_a_lookahead_is_refused_when_saved_saying_re2_lacks_it():
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("regex").validate_config({"pattern": r"foo(?!bar)"})
    assert exc.value.field == "pattern"
    assert "lookarounds" in exc.value.message


def test_a_pattern_over_the_size_limit_is_refused():
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("regex").validate_config({"pattern": "a" * (MAX_PATTERN + 1)})
    assert exc.value.field == "pattern"


def test_a_pattern_whose_program_is_too_large_is_refused():
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("regex").validate_config({"pattern": r"\pL{1000}"})  # a thousand Unicode letter classes
    assert exc.value.field == "pattern" and "too large" in exc.value.message


def test_only_the_start_of_a_huge_output_is_matched():
    output = "x" * MAX_OUTPUT + "TCK-1234"
    assert _score(output, {"pattern": r"TCK-\d{4}"}).passed is False
    assert _score(output, {"pattern": "x+", "full_match": True}).passed is False


def test_a_lone_surrogate_in_the_output_is_matched_not_raised():
    assert _score("TCK-1234 \ud800", {"pattern": r"TCK-\d{4}"}).passed is True
