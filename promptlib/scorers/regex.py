"""Regex: the output matches (or must not match) a regular expression."""

from __future__ import annotations

import re

from promptlib.scorers.base import Score, ScoreInput, Scorer, ScorerConfigError, shorten, verdict


class RegexScorer(Scorer):
    kind = "regex"
    options = {"pattern": "", "case_insensitive": False, "full_match": False, "must_match": True}

    def clean(self, config: dict) -> dict:
        cleaned = {
            "pattern": config["pattern"],
            "case_insensitive": self.clean_bool(config, "case_insensitive"),
            "full_match": self.clean_bool(config, "full_match"),
            "must_match": self.clean_bool(config, "must_match"),
        }
        if not isinstance(cleaned["pattern"], str) or not cleaned["pattern"]:
            raise ScorerConfigError("is required", field="pattern")
        self.compile(cleaned)
        return cleaned

    @staticmethod
    def compile(cfg: dict) -> re.Pattern:
        try:
            # re caches compiled patterns, so compiling per call costs a dict lookup.
            return re.compile(cfg["pattern"], re.IGNORECASE if cfg["case_insensitive"] else 0)
        except re.error as exc:
            where = f" at position {exc.pos}" if exc.pos is not None else ""
            raise ScorerConfigError(f"is not a valid regular expression: {exc.msg}{where}", field="pattern")

    def evaluate(self, inp: ScoreInput, cfg: dict, *, judge_call=None) -> Score:
        pattern = self.compile(cfg)
        match = pattern.fullmatch(inp.output) if cfg["full_match"] else pattern.search(inp.output)
        if cfg["must_match"]:
            if match:
                return verdict(cfg["name"], True, f"matched {shorten(match.group(0))!r}")
            return verdict(cfg["name"], False, "no match for the pattern")
        if match:
            return verdict(cfg["name"], False, f"matched {shorten(match.group(0))!r}, which is not allowed")
        return verdict(cfg["name"], True, "no match, as required")
