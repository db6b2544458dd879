import pytest

from promptlib.scorers import ScoreInput, ScorerConfigError, scorer_for

EXPECTED = {"category": "billing", "priority": "high", "refund": True}


def _score(output, config=None, expected=EXPECTED):
    return scorer_for("expected_fields").score(
        ScoreInput(output=output, case_input={}, expected_fields=expected), config
    )


def test_all_fields_matching_passes_with_value_one():
    score = _score('{"category": "billing", "priority": "high", "refund": true, "extra": 1}')
    assert (score.passed, score.value) == (True, 1.0)
    assert score.detail == "3 of 3 fields match"


def test_the_value_is_the_share_of_fields_that_match():
    score = _score('```json\n{"category": "billing", "priority": "low"}\n```')
    # category matches; priority differs; refund is missing: 1 / 3
    assert score.passed is False
    assert score.value == pytest.approx(1 / 3)
    assert score.detail == "1 of 3 fields match; priority: expected 'high', got 'low'; refund: missing"


def test_string_compare_is_exact_by_default():
    score = _score('{"category": "Billing ", "priority": "high", "refund": true}')
    assert score.value == pytest.approx(2 / 3)


def test_case_insensitive_option_ignores_case_and_surrounding_spaces():
    score = _score('{"category": "Billing ", "priority": "HIGH", "refund": true}', {"case_insensitive": True})
    assert (score.passed, score.value) == (True, 1.0)


def test_a_boolean_does_not_equal_a_number():
    score = _score('{"category": "billing", "priority": "high", "refund": 1}')
    assert score.passed is False


def test_dotted_keys_reach_nested_fields():
    score = _score('{"customer": {"tier": "gold"}}', expected={"customer.tier": "gold"})
    assert score.passed is True


def test_fields_option_limits_the_comparison():
    score = _score('{"category": "billing"}', {"fields": ["category"]})
    assert (score.passed, score.value) == (True, 1.0)


def test_output_that_is_not_an_object_scores_zero():
    score = _score('["billing"]')
    assert (score.passed, score.value) == (False, 0.0)
    assert "not an object" in score.detail


def test_it_does_not_apply_without_expected_fields():
    assert _score('{"a": 1}', expected=None).passed is None


def test_it_rejects_a_bad_fields_option():
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("expected_fields").validate_config({"fields": "category"})
    assert exc.value.field == "fields"
