"""Rollups of finished batches: sums per (batch, variant) and per (batch, variant, case), latency histogram.

The experiment report and the batch page read these instead of every item (rollup_sources, then
promptlib.batches.sums). They are built when a batch finishes (batch_rollup_build, called by the
batch engine) and checked on every read: missing or stale rollups — a re-run finished the batch
again, a review set an item's success, data from before rollups existed — are rebuilt then
(batch_rollups_ready).
"""

from __future__ import annotations

import logging
import time

from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Max

from promptlib.batches.models import (
    Batch,
    BatchCaseSummary,
    BatchLatencyCount,
    BatchRollup,
    BatchVariantSummary,
    Review,
)
from promptlib.batches.sums import CASE_ROLLUP, LATENCY_ROLLUP, VARIANT_ROLLUP, Sources

logger = logging.getLogger(__name__)

# Rollups missing on a read (normally built when a batch finishes): built for at most this long per
# read, the rest read from their items this time (`manage.py build_rollups` backfills them all).
LAZY_BUILD_SECONDS = 3.0


def _review_prints(batch_ids: list[int]) -> dict[int, tuple[int, int]]:
    """{batch id: (reviews, last review id)}: a review may set an item's success after the batch finished."""
    rows = (
        Review.objects.filter(result__batch_id__in=batch_ids)
        .values("result__batch_id")
        .annotate(n=Count("id"), last=Max("id"))
        .order_by()
    )
    return {r["result__batch_id"]: (r["n"], r["last"]) for r in rows}


def _delete(batch_id: int) -> None:
    for model in (BatchRollup, BatchVariantSummary, BatchCaseSummary, BatchLatencyCount):
        model.objects.filter(batch_id=batch_id).delete()


def _current(rollup: BatchRollup | None, finished_at, prints: tuple[int, int]) -> bool:
    return (
        rollup is not None and rollup.finished_at == finished_at and (rollup.reviews, rollup.last_review_id) == prints
    )


def batch_rollup_build(*, batch_id: int, force: bool = False) -> bool:
    """Build the rollups of a finished batch unless current (force: rebuild anyway); True when they are.

    For any other batch remove them and return False. Safe to run concurrently: the batch row is
    locked and the rows replaced in one transaction, so a reader sees the old rollups or the new
    ones, never half of them, and a second builder finds them current.
    """
    with transaction.atomic():
        batch = Batch.objects.select_for_update().filter(pk=batch_id).values("status", "finished_at").first()
        if batch is None or batch["status"] != Batch.Status.FINISHED:
            _delete(batch_id)
            return False
        # Read before the sums: a review committed in between makes the rollup look stale, never current.
        prints = _review_prints([batch_id]).get(batch_id, (0, 0))
        if not force and _current(BatchRollup.objects.filter(batch_id=batch_id).first(), batch["finished_at"], prints):
            return True
        _delete(batch_id)
        with connection.cursor() as cursor:
            for rollup in (VARIANT_ROLLUP, CASE_ROLLUP, LATENCY_ROLLUP):
                cursor.execute(rollup.build_sql(), [batch_id, *rollup.params])
        BatchRollup.objects.create(
            batch_id=batch_id, finished_at=batch["finished_at"], reviews=prints[0], last_review_id=prints[1]
        )
    return True


def batch_rollups_ready(
    *, batch_ids: list[int], rebuild: bool = False, budget_seconds: float | None = None
) -> set[int]:
    """The finished batches among batch_ids whose rollups are current, building the missing or stale ones.

    A batch whose rollup cannot be built now — the database is busy, or building has already taken
    budget_seconds (a page view of years of batches never backfilled) — is left out: the caller
    reads its items instead, so the report is slower, never wrong and never an error.
    """
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    finished = dict(
        Batch.objects.filter(pk__in=batch_ids, status=Batch.Status.FINISHED).values_list("pk", "finished_at")
    )
    if not finished:
        return set()
    built = {r.batch_id: r for r in BatchRollup.objects.filter(batch_id__in=list(finished))}
    prints = _review_prints(list(finished))
    ready = set()
    for batch_id, finished_at in finished.items():
        if not rebuild and _current(built.get(batch_id), finished_at, prints.get(batch_id, (0, 0))):
            ready.add(batch_id)
            continue
        if deadline is not None and time.monotonic() >= deadline:
            continue
        try:
            if batch_rollup_build(batch_id=batch_id, force=rebuild):
                ready.add(batch_id)
        except DatabaseError:
            logger.exception("Could not build the rollups of batch %s; reading its items instead.", batch_id)
    return ready


def rollup_sources(*, batch_ids: list[int], rollups: bool = True) -> Sources:
    """The batches among batch_ids to read from their rollups (finished: current, or built now within
    LAZY_BUILD_SECONDS) and the rest, to read from their items.

    rollups=False reads every batch from its items (the reference the rollups are tested against).
    """
    ready = (
        batch_rollups_ready(batch_ids=batch_ids, budget_seconds=LAZY_BUILD_SECONDS) if rollups and batch_ids else set()
    )
    return Sources(sorted(ready), [b for b in batch_ids if b not in ready])
