"""Expected-fields accuracy, for classification: compare fields of the output's JSON to the case's
expected_fields, e.g. {"category": "billing"}. value = share of fields that match; passed = all match.

A key such as "customer.tier" reaches into nested objects when the output has no literal "customer.tier" key.
"""

from __future__ import annotations

from typing import Any

from promptlib.scorers.base import Score, ScoreInput, Scorer, ScorerConfigError, not_applicable, shorten, verdict
from promptlib.scorers.json_valid import parse_json_output

_MISSING = object()


def _lookup(obj: dict, key: str) -> Any:
    if key in obj:
        return obj[key]
    current: Any = obj
    for part in key.split("."):
        if not isinstance(current, dict) or part not in current:
            return _MISSING
        current = current[part]
    return current


def _same(expected: Any, actual: Any, *, case_insensitive: bool) -> bool:
    if isinstance(expected, str) and isinstance(actual, str):
        if case_insensitive:
            return expected.strip().casefold() == actual.strip().casefold()
        return expected == actual
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual  # True is not 1 here
    return expected == actual


class ExpectedFieldsScorer(Scorer):
    kind = "expected_fields"
    options = {"case_insensitive": False, "fields": [], "strict": False}

    def clean(self, config: dict) -> dict:
        fields = config["fields"] or []
        if not isinstance(fields, list) or not all(isinstance(f, str) and f for f in fields):
            raise ScorerConfigError("must be a list of field names", field="fields")
        return {
            "case_insensitive": self.clean_bool(config, "case_insensitive"),
            "fields": fields,
            "strict": self.clean_bool(config, "strict"),
        }

    def evaluate(self, inp: ScoreInput, cfg: dict, *, judge_call=None) -> Score:
        expected = inp.expected_fields or {}
        if cfg["fields"]:
            expected = {k: v for k, v in expected.items() if k in cfg["fields"]}
        if not expected:
            return not_applicable(cfg["name"], "no expected fields for this case")
        parsed = parse_json_output(inp.output, strict=cfg["strict"])
        if not parsed.ok or not isinstance(parsed.value, dict):
            why = parsed.error if not parsed.ok else "the output's JSON is not an object"
            return verdict(cfg["name"], False, f"0 of {len(expected)} fields match: {why}", value=0.0)
        problems = []
        for key, want in expected.items():
            got = _lookup(parsed.value, key)
            if got is _MISSING:
                problems.append(f"{key}: missing")
            elif not _same(want, got, case_insensitive=cfg["case_insensitive"]):
                problems.append(f"{key}: expected {shorten(repr(want), 40)}, got {shorten(repr(got), 40)}")
        matched = len(expected) - len(problems)
        detail = f"{matched} of {len(expected)} fields match" + ("; " + "; ".join(problems) if problems else "")
        return verdict(cfg["name"], not problems, detail, value=matched / len(expected))
