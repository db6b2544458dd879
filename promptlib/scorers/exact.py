"""Exact match: the output equals the case's expected output (or a fixed value)."""

from __future__ import annotations

from promptlib.scorers.base import Score, ScoreInput, Scorer, ScorerConfigError, not_applicable, shorten, verdict


def normalize_text(text: str, *, case_insensitive: bool, ignore_whitespace: bool) -> str:
    if ignore_whitespace:
        # Runs of spaces, tabs and newlines count as one space; leading/trailing ones are dropped.
        text = " ".join(text.split())
    if case_insensitive:
        text = text.casefold()
    return text


class ExactMatchScorer(Scorer):
    kind = "exact_match"
    options = {"value": None, "case_insensitive": False, "ignore_whitespace": False}

    def clean(self, config: dict) -> dict:
        value = config["value"]
        if value is not None and not isinstance(value, str):
            raise ScorerConfigError("must be text", field="value")
        return {
            "value": value or None,
            "case_insensitive": self.clean_bool(config, "case_insensitive"),
            "ignore_whitespace": self.clean_bool(config, "ignore_whitespace"),
        }

    def evaluate(self, inp: ScoreInput, cfg: dict, *, judge_call=None) -> Score:
        expected = cfg["value"] if cfg["value"] is not None else inp.expected_output
        if expected is None:
            return not_applicable(cfg["name"], "no expected output for this case")
        flags = {"case_insensitive": cfg["case_insensitive"], "ignore_whitespace": cfg["ignore_whitespace"]}
        if normalize_text(inp.output, **flags) == normalize_text(expected, **flags):
            return verdict(cfg["name"], True, "output matches the expected output")
        return verdict(cfg["name"], False, f"expected {shorten(expected)!r}, got {shorten(inp.output)!r}")
