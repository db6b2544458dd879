import pytest

from promptlib.scorers import (
    PASS_FAIL_KINDS,
    SCORER_KINDS,
    Score,
    Scorer,
    ScorerConfigError,
    kind_choices,
    needs_review,
    schema_passed,
    scorer_for,
    scorer_specs_validate,
    task_success,
)


def _s(passed):
    return Score(metric="m", passed=passed, value=None, detail="")


@pytest.mark.parametrize("kind", sorted(SCORER_KINDS))
def test_every_kind_loads_a_scorer_of_that_kind(kind):
    scorer = scorer_for(kind)
    assert isinstance(scorer, Scorer)
    assert scorer.kind == kind


def test_every_kind_has_a_label_and_one_line_description():
    for info in SCORER_KINDS.values():
        assert info.label and info.description and "\n" not in info.description


def test_kind_choices_pair_kinds_with_labels():
    assert ("json_schema", "Follows the output schema") in kind_choices()


def test_human_review_is_the_only_kind_outside_task_success():
    assert set(SCORER_KINDS) - PASS_FAIL_KINDS == {"human_review"}
    assert needs_review(["regex", "human_review"]) is True
    assert needs_review(["regex"]) is False


def test_an_unknown_kind_is_a_config_error():
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("vibes")
    assert exc.value.field == "kind"


def test_specs_are_cleaned_with_defaults():
    cleaned = scorer_specs_validate(
        specs=[{"kind": "json_valid"}, {"kind": "regex", "name": "has_ticket", "pattern": "T"}]
    )
    assert cleaned == [
        {"kind": "json_valid", "name": "json_valid", "strict": False},
        {
            "kind": "regex",
            "name": "has_ticket",
            "pattern": "T",
            "case_insensitive": False,
            "full_match": False,
            "must_match": True,
        },
    ]


def test_spec_errors_name_the_position_and_option():
    with pytest.raises(ScorerConfigError) as exc:
        scorer_specs_validate(specs=[{"kind": "json_valid"}, {"kind": "regex", "pattern": "("}])
    assert exc.value.field == "scorers[1].pattern"


def test_spec_metric_names_must_be_unique():
    with pytest.raises(ScorerConfigError) as exc:
        scorer_specs_validate(specs=[{"kind": "contains", "strings": ["a"]}, {"kind": "contains", "strings": ["b"]}])
    assert exc.value.field == "scorers[1].name"


def test_task_success_needs_every_pass_fail_verdict_to_pass():
    assert task_success([("regex", _s(True)), ("json_valid", _s(True))]) is True
    assert task_success([("regex", _s(True)), ("json_valid", _s(False))]) is False


def test_task_success_ignores_human_review_and_checks_that_did_not_apply():
    assert task_success([("regex", _s(True)), ("exact_match", _s(None)), ("human_review", _s(None))]) is True
    assert task_success([("human_review", _s(None))]) is None


def test_schema_passed_comes_from_the_schema_check_when_there_is_one():
    assert schema_passed([("json_valid", _s(False)), ("json_schema", _s(True))]) is True


def test_schema_passed_comes_from_the_valid_json_check_when_no_schema_check_ran():
    # Issue 11: an experiment scored only for valid JSON had no schema pass rate at all.
    assert schema_passed([("json_valid", _s(True))]) is True
    assert schema_passed([("json_valid", _s(False)), ("regex", _s(True))]) is False
    assert schema_passed([("regex", _s(True))]) is None
