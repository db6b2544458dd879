"""Numeric thresholds: the call was fast and cheap enough (latency_ms <= max, cost_usd <= max)."""

from __future__ import annotations

from promptlib.scorers.base import Score, ScoreInput, Scorer, ScorerConfigError, verdict


class ThresholdsScorer(Scorer):
    kind = "thresholds"
    options = {"max_latency_ms": None, "max_cost_usd": None}

    def clean(self, config: dict) -> dict:
        cleaned = {
            "max_latency_ms": self.clean_number(config, "max_latency_ms"),
            "max_cost_usd": self.clean_number(config, "max_cost_usd"),
        }
        if cleaned["max_latency_ms"] is None and cleaned["max_cost_usd"] is None:
            raise ScorerConfigError("set a time limit, a cost limit or both", field="max_latency_ms")
        return cleaned

    def evaluate(self, inp: ScoreInput, cfg: dict, *, judge_call=None) -> Score:
        checks = []  # (passed, text)
        if cfg["max_latency_ms"] is not None:
            ok = inp.latency_ms <= cfg["max_latency_ms"]
            checks.append((ok, f"latency {inp.latency_ms:g} ms {'<=' if ok else '>'} {cfg['max_latency_ms']:g} ms"))
        if cfg["max_cost_usd"] is not None:
            ok = inp.cost_usd <= cfg["max_cost_usd"]
            checks.append((ok, f"cost ${inp.cost_usd:.6g} {'<=' if ok else '>'} ${cfg['max_cost_usd']:.6g}"))
        met = sum(ok for ok, _ in checks)
        return verdict(cfg["name"], met == len(checks), "; ".join(t for _, t in checks), value=met / len(checks))
