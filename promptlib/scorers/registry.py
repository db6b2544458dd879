"""Scorer kinds: labels for the admin, lazy imports, and how their scores roll up into a call's record."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import import_module

from promptlib.scorers.base import Score, Scorer, ScorerConfigError


@dataclass(frozen=True)
class ScorerKind:
    kind: str
    label: str
    description: str  # one line a marketer reads in a dropdown
    path: str  # dotted path to the Scorer class, imported on first use
    pass_fail: bool  # counts toward task success
    checks_schema: bool = False  # feeds the schema pass rate
    needs_review: bool = False  # flags the result for a human reviewer
    uses_judge: bool = False  # asks another model (provider and model options): its calls cost
    checks_faithfulness: bool = False  # feeds the answer faithfulness metric


_KINDS = [
    ScorerKind(
        "exact_match",
        "Exact match",
        "The answer must equal the expected answer (optionally ignoring case and spacing).",
        "promptlib.scorers.exact.ExactMatchScorer",
        pass_fail=True,
    ),
    ScorerKind(
        "contains",
        "Contains text",
        "The answer must contain some words or phrases (any or all of them).",
        "promptlib.scorers.contains.ContainsScorer",
        pass_fail=True,
    ),
    ScorerKind(
        "regex",
        "Matches a pattern",
        "The answer must (or must not) match a regular expression.",
        "promptlib.scorers.regex.RegexScorer",
        pass_fail=True,
    ),
    ScorerKind(
        "json_valid",
        "Valid JSON",
        "The answer must contain well-formed JSON.",
        "promptlib.scorers.json_valid.JsonValidScorer",
        pass_fail=True,
    ),
    ScorerKind(
        "json_schema",
        "Follows the output schema",
        "The answer's JSON must have the fields and types the schema asks for.",
        "promptlib.scorers.json_schema.JsonSchemaScorer",
        pass_fail=True,
        checks_schema=True,
    ),
    ScorerKind(
        "expected_fields",
        "Right classification",
        "The answer's fields (e.g. category) must match the expected values; scores the share that match.",
        "promptlib.scorers.expected_fields.ExpectedFieldsScorer",
        pass_fail=True,
    ),
    ScorerKind(
        "thresholds",
        "Fast and cheap enough",
        "The call must finish under a time limit and cost under a budget.",
        "promptlib.scorers.thresholds.ThresholdsScorer",
        pass_fail=True,
    ),
    ScorerKind(
        "llm_judge",
        "AI grader",
        "Another AI model grades the answer against your rubric (its cost is counted too).",
        "promptlib.scorers.llm_judge.LlmJudgeScorer",
        pass_fail=True,
        uses_judge=True,
    ),
    ScorerKind(
        "faithfulness",
        "Sticks to the knowledge base",
        "An AI grader checks every claim of the answer against the passages it was given (its cost is counted).",
        "promptlib.scorers.faithfulness.FaithfulnessScorer",
        pass_fail=True,
        uses_judge=True,
        checks_faithfulness=True,
    ),
    ScorerKind(
        "human_review",
        "Human review",
        "A person reads each answer; tracks review time and how often it needs edits.",
        "promptlib.scorers.human_review.HumanReviewScorer",
        pass_fail=False,
        needs_review=True,
    ),
]
SCORER_KINDS: dict[str, ScorerKind] = {k.kind: k for k in _KINDS}
PASS_FAIL_KINDS = frozenset(k.kind for k in _KINDS if k.pass_fail)
JUDGE_KINDS = frozenset(k.kind for k in _KINDS if k.uses_judge)


def kind_choices() -> list[tuple[str, str]]:
    """(kind, label) pairs for a form's choices."""
    return [(k.kind, k.label) for k in _KINDS]


@cache
def scorer_for(kind: str) -> Scorer:
    info = SCORER_KINDS.get(kind)
    if info is None:
        raise ScorerConfigError(f"unknown scorer kind {kind!r}; choose one of {', '.join(SCORER_KINDS)}", field="kind")
    module, _, name = info.path.rpartition(".")
    return getattr(import_module(module), name)()


def scorer_specs_validate(*, specs: list[dict]) -> list[dict]:
    """Clean an experiment's scorer list, [{"kind": ..., "name"?: ..., **options}, ...].

    Errors name the position, e.g. field "scorers[1].pattern". Metric names must be unique.
    """
    if not isinstance(specs, list):
        raise ScorerConfigError("must be a list", field="scorers")
    cleaned, seen = [], set()
    for i, spec in enumerate(specs):
        where = f"scorers[{i}]"
        if not isinstance(spec, dict):
            raise ScorerConfigError("must be an object with a kind", field=where)
        options = {k: v for k, v in spec.items() if k != "kind"}
        try:
            config = scorer_for(spec.get("kind", "")).validate_config(options)
        except ScorerConfigError as exc:
            raise ScorerConfigError(exc.message, field=f"{where}.{exc.field}")
        if config["name"] in seen:
            raise ScorerConfigError(
                f"{config['name']!r} is used by another scorer; give each a name", field=f"{where}.name"
            )
        seen.add(config["name"])
        cleaned.append({"kind": spec["kind"], **config})
    return cleaned


def task_success(results: Iterable[tuple[str, Score]]) -> bool | None:
    """True when every pass/fail score that gave a verdict passed; None when none gave one.

    A judge whose reply could not be read leaves success unknown (None) unless another check failed:
    the other checks passing says nothing of what the judge would have said.
    """
    counted = [s for kind, s in results if kind in PASS_FAIL_KINDS]
    verdicts = [s.passed for s in counted if s.passed is not None]
    if False in verdicts:
        return False
    if any(s.unreadable for s in counted):
        return None
    return all(verdicts) if verdicts else None


def schema_passed(results: Iterable[tuple[str, Score]]) -> bool | None:
    """Whether the output had the required shape: the schema check's verdict, else the valid-JSON check's
    (an experiment that only asks for JSON still has a schema pass rate); None when neither ran."""
    results = [(kind, s) for kind, s in results if s.passed is not None]
    verdicts = [s.passed for kind, s in results if SCORER_KINDS[kind].checks_schema]
    if not verdicts:
        verdicts = [s.passed for kind, s in results if kind == "json_valid"]
    return all(verdicts) if verdicts else None


def faithful(results: Iterable[tuple[str, Score]]) -> bool | None:
    """The faithfulness graders' verdict on a call (all must pass); None when none gave one."""
    verdicts = [s.passed for kind, s in results if SCORER_KINDS[kind].checks_faithfulness and s.passed is not None]
    return all(verdicts) if verdicts else None


def needs_review(kinds: Iterable[str]) -> bool:
    return any(SCORER_KINDS[k].needs_review for k in kinds)
