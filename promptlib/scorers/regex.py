"""Regex: the output matches (or must not match) a regular expression.

Matched with RE2 (google-re2), whose time grows linearly with the output, never exponentially:
Python's `re` spends 10 s on `(a+)+$` against 27 a's and a '!', and a worker with a few such items
hits its hard time limit and is redelivered forever. RE2 has no backreferences (\\1) and no
lookaround ((?=…), (?!…), (?<=…), (?<!…)); such a pattern is refused when the scorer is saved. Only
the first MAX_OUTPUT characters of an output are matched.
"""

from __future__ import annotations

from functools import lru_cache

import re2

from promptlib.scorers.base import Score, ScoreInput, Scorer, ScorerConfigError, shorten, verdict

MAX_OUTPUT = 100_000  # characters of an output that are matched
MAX_PATTERN = 2_000  # characters of a pattern
MAX_PROGRAM_BYTES = 8 << 20  # RE2's memory for one compiled pattern; larger ones fail to compile

_UNSUPPORTED = ("invalid escape sequence: \\", "invalid perl operator: (?")


@lru_cache(maxsize=256)
def _compiled(pattern: str, case_insensitive: bool):
    options = re2.Options()
    options.case_sensitive = not case_insensitive
    options.log_errors = False  # the error is the scorer's answer, not a line on the worker's stderr
    options.max_mem = MAX_PROGRAM_BYTES
    return re2.compile(pattern, options)


def _reason(exc: Exception) -> str:
    reason = exc.args[0] if exc.args else str(exc)
    reason = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
    if reason.startswith(_UNSUPPORTED):
        reason += " (backreferences such as \\1 and lookarounds such as (?=…) or (?<!…) are not supported)"
    return reason


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
        if len(cleaned["pattern"]) > MAX_PATTERN:
            raise ScorerConfigError(f"is longer than {MAX_PATTERN:,} characters", field="pattern")
        if "\x00" in cleaned["pattern"]:
            raise ScorerConfigError("contains a NUL character", field="pattern")
        self.compile(cleaned)
        return cleaned

    @staticmethod
    def compile(cfg: dict):
        try:
            return _compiled(cfg["pattern"], bool(cfg["case_insensitive"]))
        except (re2.error, TypeError, ValueError) as exc:
            raise ScorerConfigError(
                f"is not a regular expression RE2 accepts: {_reason(exc)}", field="pattern"
            ) from None

    def evaluate(self, inp: ScoreInput, cfg: dict, *, judge_call=None) -> Score:
        pattern = self.compile(cfg)
        # A longer output is judged on its start (and never fully matches). RE2 reads UTF-8, which
        # has no lone surrogates: a provider's JSON can send "\ud800", so those become "?".
        output = inp.output[:MAX_OUTPUT].encode("utf-8", "replace").decode("utf-8")
        if cfg["full_match"]:
            match = pattern.fullmatch(output) if len(inp.output) <= MAX_OUTPUT else None
        else:
            match = pattern.search(output)
        if cfg["must_match"]:
            if match:
                return verdict(cfg["name"], True, f"matched {shorten(match.group(0))!r}")
            return verdict(cfg["name"], False, "no match for the pattern")
        if match:
            return verdict(cfg["name"], False, f"matched {shorten(match.group(0))!r}, which is not allowed")
        return verdict(cfg["name"], True, "no match, as required")
