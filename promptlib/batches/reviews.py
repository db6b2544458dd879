"""Human review of batch outputs: approve or reject (optionally editing), timed from page open to submit.

Writes: review_submit. Reads: the review queue (answers awaiting review, of a batch or an experiment whose
scorers include a human review, and answers sent to calibrate an AI grader), how many there are, and what
the reviewer reads beside an answer.

An edit is measured on meaning, not bytes: a browser sends a textarea back with CRLF line endings and
Django's form drops the trailing newline, so an untouched answer differs from the model's byte for byte.
review_text_normalised is the one comparison; when the text is unchanged the review stores no edit,
and the answer stays the model's own (review_output).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from promptlib.batches.models import Batch, BatchItem, Review, ScorerConfig
from promptlib.core.errors import DomainError

_SALT = "promptlib.review.opened"
MAX_REVIEW_SECONDS = 24 * 3600
HUMAN_REVIEW = "human_review"  # the scorer kind whose answers wait for a reviewer
_LINE_END = re.compile(r"\r\n?")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)


class ReviewError(DomainError):
    pass


def review_text_normalised(text: str) -> str:
    """Line endings as LF, no spaces or tabs at the end of a line, no blank lines or spaces at the end."""
    return _TRAILING_SPACE.sub("", _LINE_END.sub("\n", text)).rstrip()


def review_is_edit(*, original: str, text: str) -> bool:
    """True when the reviewer's text says something else than the model's answer (an empty box is no edit)."""
    return bool(text.strip()) and review_text_normalised(text) != review_text_normalised(original)


def review_output(*, review: Review) -> str:
    """The answer a review stands for: the reviewer's edit when there was a real one, else the model's own."""
    edited = review.edited_output
    if edited and review_is_edit(original=review.result.output, text=edited):
        return edited
    return review.result.output


def review_timer_start(*, result_id: int) -> str:
    """A signed stamp of when the review page was opened; the form sends it back on submit."""
    return signing.dumps({"result": result_id, "opened": time.time()}, salt=_SALT)


def review_seconds(*, token: str, result_id: int) -> float:
    try:
        data = signing.loads(token, salt=_SALT, max_age=MAX_REVIEW_SECONDS)
    except signing.BadSignature as exc:
        raise ReviewError("The review form is stale or was tampered with; open it again.", field="opened") from exc
    if data.get("result") != result_id:
        raise ReviewError("The review form belongs to another result.", field="opened")
    return max(0.0, time.time() - float(data["opened"]))


ALREADY_REVIEWED = "You have already reviewed this answer."


@transaction.atomic
def review_submit(*, result: BatchItem, reviewer, approved: bool, seconds: float, edited_output: str = "") -> Review:
    if result.status != BatchItem.Status.DONE:
        raise ReviewError("Only a finished output can be reviewed.", field="result")
    if seconds < 0:
        raise ReviewError("Seconds cannot be negative.", field="seconds")
    # A real edit is kept with LF line endings; an untouched answer stores none (the model's text stands).
    edited = _LINE_END.sub("\n", edited_output) if review_is_edit(original=result.output, text=edited_output) else ""
    try:
        with transaction.atomic():
            review = Review.objects.create(
                result=result, reviewer=reviewer, approved=approved, edited_output=edited, seconds=seconds
            )
    except IntegrityError as exc:
        raise ReviewError(ALREADY_REVIEWED, field="result", code="conflict", status=409) from exc
    # A human verdict decides success only where no automatic scorer gave one.
    BatchItem.objects.filter(pk=result.pk, success__isnull=True).update(success=approved)
    return review


# --- reads: the queue -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewScope:
    """The answers a queue walks: one batch's, or an experiment's (every batch of it)."""

    batch_id: int | None = None
    experiment_id: int | None = None

    @property
    def query(self) -> str:
        """The query string the review pages carry, so "next" stays in the same queue."""
        if self.batch_id:
            return f"?batch={self.batch_id}"
        return f"?experiment={self.experiment_id}" if self.experiment_id else ""


def review_scope_parse(*, batch: str | None, experiment: str | None) -> ReviewScope:
    """The scope named in a URL's query (?batch=… or ?experiment=…); digits only, anything else is no scope."""
    if batch and batch.isdigit():
        return ReviewScope(batch_id=int(batch))
    if experiment and experiment.isdigit():
        return ReviewScope(experiment_id=int(experiment))
    return ReviewScope()


def review_queue(*, scope: ReviewScope, project_ids: list[int] | None = None) -> QuerySet[BatchItem]:
    """Finished answers nobody has reviewed yet, oldest first: those of experiments that ask for a human
    review, and those sent to the queue to calibrate an AI grader (review_requested, by
    promptlib.analysis.calibration).

    The experiments asking for a review are read first (a few rows), so a page of an experiment without a
    human review counts only the answers sent to calibrate (a partial index).
    """
    experiments = ScorerConfig.objects.filter(kind=HUMAN_REVIEW)
    items = BatchItem.objects.filter(status=BatchItem.Status.DONE, reviews__isnull=True)
    if scope.batch_id:
        experiments = experiments.filter(experiment_id__in=Batch.objects.filter(pk=scope.batch_id).values("experiment"))
        items = items.filter(batch_id=scope.batch_id)
    elif scope.experiment_id:
        experiments = experiments.filter(experiment_id=scope.experiment_id)
        items = items.filter(batch__experiment_id=scope.experiment_id)
    experiment_ids = sorted(set(experiments.values_list("experiment_id", flat=True)))
    wanted = Q(review_requested=True)
    if experiment_ids:
        wanted |= Q(batch__experiment_id__in=experiment_ids)
    items = items.filter(wanted)
    if project_ids is not None:
        items = items.filter(batch__project_id__in=project_ids)
    return items.select_related("batch", "variant", "case").order_by("id")


def review_queue_count(*, scope: ReviewScope) -> int:
    return review_queue(scope=scope).count()


def review_next(*, scope: ReviewScope, after_id: int, project_ids: list[int] | None = None) -> BatchItem | None:
    """The next answer awaiting review after after_id, else the first one before it (never after_id itself)."""
    queue = review_queue(scope=scope, project_ids=project_ids).exclude(pk=after_id)
    return queue.filter(pk__gt=after_id).first() or queue.first()


@dataclass(frozen=True)
class ReviewPageFacts:
    """What a reviewer reads beside an answer, and who reviewed it already."""

    instructions: list[str]  # each human-review scorer's instructions, as its author wrote them
    mine: Review | None  # this reviewer's own review of the answer, when there is one
    others: list[Review]  # other people's reviews of it


def review_page_facts(*, item: BatchItem, reviewer) -> ReviewPageFacts:
    configs = ScorerConfig.objects.filter(experiment_id=item.batch.experiment_id, kind=HUMAN_REVIEW)
    instructions = [text for c in configs if (text := str((c.config or {}).get("instructions") or "").strip())]
    reviews = list(Review.objects.filter(result=item).select_related("reviewer").order_by("created_at", "id"))
    mine = next((r for r in reviews if r.reviewer_id == reviewer.pk), None)
    return ReviewPageFacts(instructions, mine, [r for r in reviews if r.reviewer_id != reviewer.pk])


def batch_awaiting_review(*, batch: Batch) -> int:
    return review_queue_count(scope=ReviewScope(batch_id=batch.pk))
