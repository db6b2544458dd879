"""SQL aggregates for the experiment report: one query per need, never one per variant × metric.

Offline (batch items of the experiment's running and finished batches), read with the sums every
batch metric comes from (promptlib.batches.sums, also behind the batch page):
  - batch_sources: which batches are read from their rollups (finished: promptlib.batches.rollups)
    and which from their items (running) — a million items become a few hundred thousand rows;
  - call_sums: counts, sums and sums of squares per (batch, variant) — the time series per run, and
    summed over batches, the per-variant totals — and per (case, variant) for paired tests (repeats
    collapsed in SQL);
  - latency_percentiles: p50 / p95 per variant (with order-statistic bounds for their 95% intervals)
    and per (batch, variant), exact, from a histogram of latencies grouped in SQL;
  - review_sums: human reviews per variant.
Production (outcome events): outcome_sums per (variant, metric) and outcome_days per day.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate

from promptlib.batches import sums
from promptlib.batches.models import Batch, BatchItem
from promptlib.batches.rollups import rollup_sources
from promptlib.batches.sums import DONE, FAILED, ReviewSums, Sources
from promptlib.experiments.models import OutcomeEvent

# Batches whose results count: a running batch shows what it has so far.
COUNTED_BATCHES = (Batch.Status.RUNNING, Batch.Status.FINISHED)


def counted_items(*, experiment_id: int):
    """Finished calls (done or failed) of the experiment's running and finished batches."""
    return BatchItem.objects.filter(
        batch__experiment_id=experiment_id, batch__status__in=COUNTED_BATCHES, status__in=(DONE, FAILED)
    )


def cancelled_with_results(*, experiment_id: int) -> int:
    """Cancelled batches that finished some calls: the report leaves them out, and says so."""
    return (
        Batch.objects.filter(experiment_id=experiment_id, status=Batch.Status.CANCELLED, items__status=DONE)
        .distinct()
        .count()
    )


def counted_batch_ids(*, experiment_id: int) -> list[int]:
    return list(
        Batch.objects.filter(experiment_id=experiment_id, status__in=COUNTED_BATCHES).values_list("pk", flat=True)
    )


def batch_sources(*, experiment_id: int, rollups: bool = True) -> Sources:
    """rollups=False reads every batch from its items (the reference the rollups are tested against)."""
    return rollup_sources(batch_ids=counted_batch_ids(experiment_id=experiment_id), rollups=rollups)


def review_sums(*, experiment_id: int) -> dict[int, ReviewSums]:
    return sums.review_sums(batch_ids=counted_batch_ids(experiment_id=experiment_id))


# --- production ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeSums:
    n: int
    total: float
    total_sq: float
    booleans: int

    @property
    def is_rate(self) -> bool:
        return self.n > 0 and self.booleans == self.n


def outcome_sums(*, experiment_id: int) -> dict[tuple[int, str], OutcomeSums]:
    """{(variant id, metric): sums} over every outcome event of the experiment."""
    rows = (
        OutcomeEvent.objects.filter(experiment_id=experiment_id)
        .values("variant_id", "metric")
        .annotate(
            n=Count("id"),
            total=Sum("value"),
            total_sq=Sum(F("value") * F("value")),
            booleans=Count("id", filter=Q(is_boolean=True)),
        )
        .order_by()
    )
    return {
        (r["variant_id"], r["metric"]): OutcomeSums(r["n"], r["total"] or 0.0, r["total_sq"] or 0.0, r["booleans"])
        for r in rows
    }


def outcome_days(*, experiment_id: int) -> list[tuple]:
    """[(day, variant id, metric, n, total)] in day order."""
    rows = (
        OutcomeEvent.objects.filter(experiment_id=experiment_id)
        .annotate(day=TruncDate("created_at"))
        .values("day", "variant_id", "metric")
        .annotate(n=Count("id"), total=Sum("value"))
        .order_by("day")
    )
    return [(r["day"], r["variant_id"], r["metric"], r["n"], r["total"] or 0.0) for r in rows]
