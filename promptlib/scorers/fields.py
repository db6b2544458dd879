"""How each scorer kind's options are asked for on a form: a label, a help line and an input type.

Defaults stay in each Scorer's `options`; this module only says how a person fills them in, so a
marketer never types JSON. Options left out here keep their default (a JSON schema comes from the
version's output schema; a judge's temperature is fixed at 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

InputType = Literal["text", "textarea", "lines", "bool", "number", "choice", "provider"]


@dataclass(frozen=True)
class OptionField:
    option: str  # the key in the scorer's options
    label: str
    input: InputType
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    required: bool = False


_CASE = OptionField("case_insensitive", "Ignore upper and lower case", "bool")
_STRICT = OptionField(
    "strict", "Only plain JSON", "bool", "Tick to refuse JSON wrapped in text or ``` fences (most models wrap it)."
)

FORM_FIELDS: dict[str, tuple[OptionField, ...]] = {
    "exact_match": (
        OptionField("value", "Expected answer", "text",
                    "Leave empty to compare with each test case's expected answer."),
        _CASE,
        OptionField("ignore_whitespace", "Ignore extra spaces and line breaks", "bool"),
    ),
    "contains": (
        OptionField("strings", "Words or phrases", "lines",
                    "One per line. Leave empty to look for each test case's expected answer."),
        OptionField("mode", "The answer must contain", "choice",
                    choices=(("all", "all of them"), ("any", "at least one of them"))),
        _CASE,
    ),
    "regex": (
        OptionField("pattern", "Pattern", "text",
                    r"A regular expression, e.g. ^(billing|shipping)$ or \d{5}.", required=True),
        OptionField("must_match", "The answer must match (untick: must not match)", "bool"),
        OptionField("full_match", "The whole answer must match, not just a part", "bool"),
        _CASE,
    ),
    "json_valid": (_STRICT,),
    "json_schema": (_STRICT,),
    "expected_fields": (
        OptionField("fields", "Fields to compare", "lines",
                    "One name per line, e.g. category. Leave empty to compare every expected field of the case."),
        _CASE,
        _STRICT,
    ),
    "thresholds": (
        OptionField("max_latency_ms", "Slowest allowed answer (milliseconds)", "number", "1000 ms = 1 second."),
        OptionField("max_cost_usd", "Most an answer may cost (US dollars)", "number", "e.g. 0.002"),
    ),
    "llm_judge": (
        OptionField("rubric", "What makes a good answer", "textarea",
                    "The grader reads this, e.g. “Polite, answers the question, no promises of refunds.”",
                    required=True),
        OptionField("provider", "Grading AI provider", "provider", required=True),
        OptionField("model", "Grading AI model", "text", "e.g. gpt-4o-mini", required=True),
        OptionField("scale", "Grades from 0 to", "number", "10 = the grader gives 0 to 10."),
        OptionField("pass_threshold", "Pass mark (share of the top grade)", "number", "0.7 = 7 out of 10 passes."),
    ),
    "faithfulness": (
        OptionField("provider", "Grading AI provider", "provider", required=True),
        OptionField("model", "Grading AI model", "text", "e.g. gpt-4o-mini", required=True),
        OptionField("pass_threshold", "Pass mark (share of claims supported)", "number",
                    "1 = every claim must be in the passages; 0.8 lets one claim in five slip."),
    ),
    "human_review": (
        OptionField("instructions", "Instructions for the reviewer", "textarea",
                    "What a person should look at in each answer."),
    ),
}  # fmt: skip


def field_value_to_option(field: OptionField, value):
    """A form value as the scorer option: lines become a list, empty numbers None."""
    if field.input == "lines":
        return [line.strip() for line in (value or "").splitlines() if line.strip()]
    if field.input == "bool":
        return bool(value)
    if field.input == "number":
        return None if value in (None, "") else value
    return value or ""


def option_to_field_value(field: OptionField, value):
    """A stored option as the form shows it (the inverse of field_value_to_option)."""
    if field.input == "lines":
        return "\n".join(value or [])
    return value
