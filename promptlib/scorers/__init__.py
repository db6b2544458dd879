"""Scorers: each turns one call's output into a named Score. Pure Python; see base.py and registry.py."""

from promptlib.scorers.base import JudgeCall, Score, ScoreInput, Scorer, ScorerConfigError, ScorerError
from promptlib.scorers.registry import (
    JUDGE_KINDS,
    PASS_FAIL_KINDS,
    SCORER_KINDS,
    ScorerKind,
    faithful,
    kind_choices,
    needs_review,
    schema_passed,
    scorer_for,
    scorer_specs_validate,
    task_success,
)

__all__ = [
    "JUDGE_KINDS",
    "PASS_FAIL_KINDS",
    "SCORER_KINDS",
    "JudgeCall",
    "Score",
    "ScoreInput",
    "Scorer",
    "ScorerConfigError",
    "ScorerError",
    "ScorerKind",
    "faithful",
    "kind_choices",
    "needs_review",
    "schema_passed",
    "scorer_for",
    "scorer_specs_validate",
    "task_success",
]
