"""Contains: the output contains any/all of some strings, or the case's expected output."""

from __future__ import annotations

from promptlib.scorers.base import Score, ScoreInput, Scorer, ScorerConfigError, not_applicable, verdict
from promptlib.scorers.exact import normalize_text


class ContainsScorer(Scorer):
    kind = "contains"
    options = {"strings": [], "mode": "all", "case_insensitive": False}

    def clean(self, config: dict) -> dict:
        strings = config["strings"]
        if strings is None:
            strings = []
        if isinstance(strings, str):
            strings = [strings]
        if not isinstance(strings, list) or not all(isinstance(s, str) and s for s in strings):
            raise ScorerConfigError("must be a list of non-empty texts", field="strings")
        return {
            "strings": strings,
            "mode": self.clean_choice(config, "mode", ("all", "any")),
            "case_insensitive": self.clean_bool(config, "case_insensitive"),
        }

    def evaluate(self, inp: ScoreInput, cfg: dict, *, judge_call=None) -> Score:
        needles = cfg["strings"] or ([inp.expected_output] if inp.expected_output else [])
        if not needles:
            return not_applicable(cfg["name"], "no strings configured and no expected output for this case")
        flags = {"case_insensitive": cfg["case_insensitive"], "ignore_whitespace": False}
        haystack = normalize_text(inp.output, **flags)
        missing = [s for s in needles if normalize_text(s, **flags) not in haystack]
        found = len(needles) - len(missing)
        passed = found > 0 if cfg["mode"] == "any" else not missing
        detail = f"found {found} of {len(needles)}"
        if missing:
            detail += "; missing: " + ", ".join(repr(s) for s in missing[:5])
        return verdict(cfg["name"], passed, detail, value=found / len(needles))
