"""Crafted AI-grader verdicts and reviews for the calibration tests (tests/analysis, tests/e2e)."""

from __future__ import annotations

from promptlib.batches.models import Review, ScorerConfig
from tests.analysis_support import winner_batch


def grader_add(experiment, name="grader", counts=True) -> ScorerConfig:
    return ScorerConfig.objects.create(
        experiment=experiment, kind="llm_judge", name=name, counts_for_success=counts,
        config={"rubric": "Polite.", "provider": "demo", "model": "m"},
    )  # fmt: skip


def judge(items, verdicts, name="grader") -> None:
    """Give items[i] the grader's verdict verdicts[i] (None: a reply that could not be read)."""
    for item, passed in zip(items, verdicts, strict=False):
        score = {"metric": name, "passed": passed, "value": None if passed is None else float(passed), "detail": ""}
        if passed is None:
            score["unread"] = True
        item.scores = [*item.scores, score]
        item.save(update_fields=["scores"])


def review(items, decisions, reviewer, seconds=30.0) -> None:
    for item, approved in zip(items, decisions, strict=False):
        Review.objects.create(result=item, reviewer=reviewer, approved=approved, seconds=seconds)


def crafted(experiment, dataset, reviewer, plan):
    """plan: [(grader passed, reviewer approved, how many)] on the control's answers, in order."""
    batch = winner_batch(experiment, dataset)
    items = list(batch.items.filter(variant__key="control").order_by("id"))
    judged, decided = [], []
    for passed, approved, n in plan:
        judged += [passed] * n
        decided += [approved] * n
    judge(items, judged)
    review(items, decided, reviewer)
    return batch


# 6 both pass, 9 the grader passed and reviewers rejected, 1 the other way, 4 both fail.
POOR = [(True, True, 6), (True, False, 9), (False, True, 1), (False, False, 4)]
GOOD = [(True, True, 10), (True, False, 1), (False, False, 9)]
