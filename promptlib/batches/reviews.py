"""Human review of batch outputs: approve or reject (optionally editing), timed from page open to submit."""

from __future__ import annotations

import time

from django.core import signing
from django.db import IntegrityError, transaction

from promptlib.batches.models import BatchItem, Review
from promptlib.core.errors import DomainError

_SALT = "promptlib.review.opened"
MAX_REVIEW_SECONDS = 24 * 3600


class ReviewError(DomainError):
    pass


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


@transaction.atomic
def review_submit(*, result: BatchItem, reviewer, approved: bool, seconds: float, edited_output: str = "") -> Review:
    if result.status != BatchItem.Status.DONE:
        raise ReviewError("Only a finished output can be reviewed.", field="result")
    if seconds < 0:
        raise ReviewError("Seconds cannot be negative.", field="seconds")
    edited = edited_output if edited_output.strip() and edited_output != result.output else ""
    try:
        with transaction.atomic():
            review = Review.objects.create(
                result=result, reviewer=reviewer, approved=approved, edited_output=edited, seconds=seconds
            )
    except IntegrityError as exc:
        raise ReviewError("You have already reviewed this output.", field="result") from exc
    # A human verdict decides success only where no automatic scorer gave one.
    BatchItem.objects.filter(pk=result.pk, success__isnull=True).update(success=approved)
    return review
