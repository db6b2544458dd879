"""The scorer contract: plain values in, one named Score out. No database, no providers.

A scorer is configured per experiment with a small options dict. `validate_config` cleans it once (the
admin and the API call it so marketers see a named error); `score` runs it for one call's output.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from promptlib.core.errors import DomainError

# judge_call(messages, json_schema=None) -> (text, input_tokens, output_tokens, cost_usd); wired by the
# batch runner, which asks for the schema through the provider's structured-output mode.
JudgeCall = Callable[..., tuple[str, int, int, float]]

_METRIC_NAME = re.compile(r"^[-a-zA-Z0-9_]{1,60}$")  # a slug, like ScorerConfig.name


class ScorerError(DomainError):
    """A scorer cannot run; `field` names what is wrong."""

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ScorerConfigError(ScorerError):
    """A scorer's options are invalid; `field` names the option (e.g. "pattern")."""


@dataclass(frozen=True)
class ScoreInput:
    output: str
    case_input: dict
    expected_output: str | None = None
    expected_fields: dict | None = None
    latency_ms: float = 0.0
    cost_usd: float = 0.0
    output_schema: dict | None = None
    # The passages a version with retrieval was given: ({id, title, source, text, ...}, ...).
    retrieved: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Score:
    """One metric for one call. passed=None means the check did not apply or needs a human."""

    metric: str
    passed: bool | None
    value: float | None
    detail: str
    judge_cost_usd: float = 0.0
    judge_input_tokens: int = 0
    judge_output_tokens: int = 0
    unreadable: bool = False  # a judge replied, but no verdict could be read from it: neither pass nor fail


class Scorer:
    kind: ClassVar[str] = ""
    # Option name -> default; any other option is a config error (catches typos such as "patern").
    options: ClassVar[dict[str, Any]] = {}

    def validate_config(self, config: dict | None) -> dict:
        """Return the cleaned options (defaults filled in, "name" always set); idempotent."""
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise ScorerConfigError("must be an object of options", field="config")
        unknown = sorted(set(config) - set(self.options) - {"name"})
        if unknown:
            allowed = ", ".join(sorted(self.options)) or "none"
            raise ScorerConfigError(f"unknown option for a {self.kind} scorer (allowed: {allowed})", field=unknown[0])
        name = config.get("name") or self.kind
        if not isinstance(name, str) or not _METRIC_NAME.match(name):
            raise ScorerConfigError(
                "must be a short slug: letters, digits, _ and - only (at most 60 characters)", field="name"
            )
        cleaned = {**self.options, **{k: v for k, v in config.items() if k != "name"}}
        return {"name": name, **self.clean(cleaned)}

    def clean(self, config: dict) -> dict:
        """Check and normalise this kind's own options; raise ScorerConfigError(option, problem)."""
        return config

    def score(self, inp: ScoreInput, config: dict | None, *, judge_call: JudgeCall | None = None) -> Score:
        cfg = self.validate_config(config)
        return self.evaluate(inp, cfg, judge_call=judge_call)

    def evaluate(self, inp: ScoreInput, cfg: dict, *, judge_call: JudgeCall | None) -> Score:
        raise NotImplementedError

    # Shared option checks -------------------------------------------------------------------------

    @staticmethod
    def clean_bool(config: dict, field: str) -> bool:
        value = config[field]
        if not isinstance(value, bool):
            raise ScorerConfigError("must be true or false", field=field)
        return value

    @staticmethod
    def clean_number(config: dict, field: str, *, minimum: float = 0.0, allow_none: bool = True) -> float | None:
        value = config[field]
        if value is None and allow_none:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ScorerConfigError("must be a number", field=field)
        if value < minimum:
            raise ScorerConfigError(f"must be at least {minimum:g}", field=field)
        return float(value)

    @staticmethod
    def clean_choice(config: dict, field: str, choices: tuple[str, ...]) -> str:
        value = config[field]
        if value not in choices:
            raise ScorerConfigError(f"must be one of {', '.join(choices)}", field=field)
        return value


def not_applicable(metric: str, why: str) -> Score:
    return Score(metric=metric, passed=None, value=None, detail=why)


def verdict(metric: str, passed: bool, detail: str, value: float | None = None) -> Score:
    """A pass/fail score whose value is 1.0/0.0 unless a finer value is given."""
    return Score(
        metric=metric, passed=passed, value=(1.0 if passed else 0.0) if value is None else value, detail=detail
    )


def shorten(text: str, limit: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
