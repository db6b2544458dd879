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
Production (outcome events): outcome_sums per (variant, metric), summed per subject first, and
outcome_days per day.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from promptlib.batches import sums
from promptlib.batches.models import Batch, BatchItem
from promptlib.batches.rollups import rollup_sources
from promptlib.batches.sums import DONE, FAILED, ReviewSums, Sources
from promptlib.experiments.models import OutcomeEvent
from promptlib.stats.ratio import SubjectSums

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
    """One variant on one metric, summed per subject first (subjects are what is randomised)."""

    sums: SubjectSums
    booleans: int  # events sent as true/false

    @property
    def n(self) -> int:
        """Subjects: the unit every test and sample size counts."""
        return int(self.sums.subjects)

    @property
    def events(self) -> int:
        return int(self.sums.events)

    @property
    def is_rate(self) -> bool:
        return self.events > 0 and self.booleans == self.events


# Inner query: one row per (variant, metric, subject); outer: the sums the delta method needs.
_SUBJECT_SUMS_SQL = """
SELECT variant_id, metric, COUNT(*), SUM(n), SUM(n * n), SUM(t), SUM(t * t), SUM(t * n), SUM(b)
FROM (
    SELECT variant_id, metric, subject, COUNT(*) AS n, SUM(value) AS t,
           SUM(CASE WHEN is_boolean THEN 1 ELSE 0 END) AS b
    FROM {table} WHERE experiment_id = %s
    GROUP BY variant_id, metric, subject
) per_subject
GROUP BY variant_id, metric
"""


def outcome_sums(*, experiment_id: int) -> dict[tuple[int, str], OutcomeSums]:
    """{(variant id, metric): per-subject sums} over every outcome event of the experiment."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Room to group 200,000 users in memory: the default 4 MB sorts on disk (5x slower).
            cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(_SUBJECT_SUMS_SQL.format(table=OutcomeEvent._meta.db_table), [experiment_id])
        rows = cursor.fetchall()
    return {
        (vid, metric): OutcomeSums(
            SubjectSums(int(k), float(n), float(nn), float(t or 0), float(tt or 0), float(tn or 0)), int(b)
        )
        for vid, metric, k, n, nn, t, tt, tn, b in rows
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
