import pytest

from promptlib.scorers import ScoreInput, ScorerConfigError, scorer_for

SCHEMA = {
    "type": "object",
    "required": ["category", "email"],
    "properties": {
        "category": {"enum": ["billing", "shipping"]},
        "email": {"type": "string", "format": "email"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}


def _score(output, config=None, output_schema=None):
    inp = ScoreInput(output=output, case_input={}, output_schema=output_schema)
    return scorer_for("json_schema").score(inp, config)


def test_it_passes_output_matching_the_versions_declared_schema():
    score = _score('{"category": "billing", "email": "ann@example.com"}', output_schema=SCHEMA)
    assert (score.passed, score.value) == (True, 1.0)


def test_a_configured_schema_overrides_the_declared_one():
    score = _score('{"n": 1}', {"schema": {"type": "object", "required": ["n"]}}, output_schema=SCHEMA)
    assert score.passed is True


def test_it_reads_fenced_json():
    assert _score('```json\n{"category": "shipping", "email": "a@b.co"}\n```', output_schema=SCHEMA).passed is True


def test_it_lists_each_violation_with_its_location():
    output = '{"category": "refunds", "email": "not-an-email", "tags": ["ok", 7]}'
    score = _score(output, output_schema=SCHEMA)
    assert (score.passed, score.value) == (False, 0.0)
    assert score.detail == (
        "3 schema violation(s): "
        "at $.category: 'refunds' is not one of ['billing', 'shipping']; "
        "at $.email: 'not-an-email' is not a 'email'; "
        "at $.tags[1]: 7 is not of type 'string'"
    )


def test_it_reports_a_missing_required_field():
    score = _score('{"category": "billing"}', output_schema=SCHEMA)
    assert "at $: 'email' is a required property" in score.detail


def test_it_caps_the_listed_violations():
    schema = {"type": "object", "properties": {k: {"type": "integer"} for k in "abcdefg"}}
    score = _score('{"a":"x","b":"x","c":"x","d":"x","e":"x","f":"x","g":"x"}', {"schema": schema})
    assert score.detail.startswith("7 schema violation(s):")
    assert score.detail.endswith("; and 2 more")


def test_output_without_json_fails():
    score = _score("I cannot help with that.", output_schema=SCHEMA)
    assert score.passed is False
    assert "no JSON found" in score.detail


def test_it_does_not_apply_without_any_schema():
    assert _score('{"a": 1}').passed is None


def test_a_broken_declared_schema_does_not_apply_and_says_why():
    score = _score('{"a": 1}', output_schema={"type": "nonsense"})
    assert score.passed is None
    assert "not a valid JSON Schema" in score.detail


def test_an_invalid_configured_schema_is_a_config_error():
    with pytest.raises(ScorerConfigError) as exc:
        scorer_for("json_schema").validate_config({"schema": {"type": 12}})
    assert exc.value.field == "schema"
    assert "not a valid JSON Schema" in exc.value.message


def test_it_checks_formats_such_as_date_time():
    schema = {"type": "object", "properties": {"due": {"type": "string", "format": "date-time"}}}
    assert _score('{"due": "2025-03-01T09:00:00Z"}', {"schema": schema}).passed is True
    score = _score('{"due": "next Tuesday"}', {"schema": schema})
    assert score.detail == "1 schema violation(s): at $.due: 'next Tuesday' is not a 'date-time'"
