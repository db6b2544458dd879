"""Human review: not scored automatically. The result is flagged for a reviewer; the batch runner stores
the review, and promptlib.experiments.metrics turns review records into review effort (median seconds, share edited)."""

from __future__ import annotations

from promptlib.scorers.base import Score, ScoreInput, Scorer, ScorerConfigError


class HumanReviewScorer(Scorer):
    kind = "human_review"
    options = {"instructions": ""}

    def clean(self, config: dict) -> dict:
        if not isinstance(config["instructions"], str):
            raise ScorerConfigError("must be text", field="instructions")
        return {"instructions": config["instructions"].strip()}

    def evaluate(self, inp: ScoreInput, cfg: dict, *, judge_call=None) -> Score:
        return Score(metric=cfg["name"], passed=None, value=None, detail="needs human review")
