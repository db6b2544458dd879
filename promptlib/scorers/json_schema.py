"""JSON Schema: the output's JSON satisfies the version's declared output_schema (or a given schema)."""

from __future__ import annotations

import json
from functools import lru_cache

import jsonschema

from promptlib.scorers.base import Score, ScoreInput, Scorer, ScorerConfigError, not_applicable, verdict
from promptlib.scorers.json_valid import parse_json_output

_MAX_REPORTED = 5


def schema_problem(schema: object) -> str | None:
    """Why a schema is unusable, or None when it is a valid schema for its declared draft."""
    if not isinstance(schema, dict):
        return "must be a JSON object"
    return _schema_problem(json.dumps(schema, sort_keys=True))


@lru_cache(maxsize=256)
def _schema_problem(schema_json: str) -> str | None:
    schema = json.loads(schema_json)
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"is not a valid JSON Schema: {exc.message}"
    return None


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> jsonschema.protocols.Validator:
    # Keyed by the canonical JSON so each distinct schema is checked and built once per process.
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _where(path) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def schema_violations(schema: dict, value: object) -> list[str]:
    validator = _validator(json.dumps(schema, sort_keys=True))
    errors = sorted(validator.iter_errors(value), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [f"at {_where(e.absolute_path)}: {e.message}" for e in errors]


class JsonSchemaScorer(Scorer):
    kind = "json_schema"
    options = {"schema": None, "strict": False}

    def clean(self, config: dict) -> dict:
        schema = config["schema"] or None
        if schema is not None and (problem := schema_problem(schema)):
            raise ScorerConfigError(problem, field="schema")
        return {"schema": schema, "strict": self.clean_bool(config, "strict")}

    def evaluate(self, inp: ScoreInput, cfg: dict, *, judge_call=None) -> Score:
        schema = cfg["schema"] or inp.output_schema
        if not schema:
            return not_applicable(cfg["name"], "no output schema: the version declares none and none is configured")
        if problem := schema_problem(schema):
            return not_applicable(cfg["name"], f"the version's output schema {problem}")
        parsed = parse_json_output(inp.output, strict=cfg["strict"])
        if not parsed.ok:
            return verdict(cfg["name"], False, parsed.error)
        violations = schema_violations(schema, parsed.value)
        if not violations:
            return verdict(cfg["name"], True, "output matches the schema")
        more = len(violations) - _MAX_REPORTED
        detail = "; ".join(violations[:_MAX_REPORTED]) + (f"; and {more} more" if more > 0 else "")
        return verdict(cfg["name"], False, f"{len(violations)} schema violation(s): {detail}")
