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
Production (outcome events): outcome_sums per (variant, metric) over the per-subject sums kept as
events arrive (promptlib.experiments.outcomes), and outcome_days per day.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import Sum

from promptlib.batches import sums
from promptlib.batches.models import Batch, BatchItem, Review
from promptlib.batches.rollups import rollup_sources
from promptlib.batches.sums import DONE, FAILED, ReviewSums, Sources
from promptlib.experiments.models import OutcomeDaySum, OutcomeSubjectSum
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


def review_seconds_by_case(*, experiment_id: int) -> list[tuple[int, int, float]]:
    """[(case id, variant id, seconds)]: every review's time on the counted calls, per case and variant."""
    rows = (
        Review.objects.filter(result__in=counted_items(experiment_id=experiment_id))
        .values("result__case_id", "result__variant_id")
        .annotate(seconds=Sum("seconds"))
        .order_by()
    )
    return [(r["result__case_id"], r["result__variant_id"], float(r["seconds"] or 0)) for r in rows]


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


# One row per (variant, metric, subject) is kept as events arrive (OutcomeSubjectSum); these are the
# sums over subjects the delta method needs.
_SUBJECT_SUMS_SQL = """
SELECT variant_id, metric, COUNT(*), SUM(events), SUM(events * events), SUM(total), SUM(total * total),
       SUM(total * events), SUM(booleans)
FROM {table} WHERE experiment_id = %s
GROUP BY variant_id, metric
"""


def outcome_sums(*, experiment_id: int) -> dict[tuple[int, str], OutcomeSums]:
    """{(variant id, metric): per-subject sums} over every outcome event of the experiment."""
    with connection.cursor() as cursor:
        cursor.execute(_SUBJECT_SUMS_SQL.format(table=OutcomeSubjectSum._meta.db_table), [experiment_id])
        rows = cursor.fetchall()
    return {
        (vid, metric): OutcomeSums(
            SubjectSums(int(k), float(n), float(nn), float(t or 0), float(tt or 0), float(tn or 0)), int(b)
        )
        for vid, metric, k, n, nn, t, tt, tn, b in rows
    }


def outcome_days(*, experiment_id: int) -> list[tuple]:
    """[(day, variant id, metric, n, total)] in day order."""
    rows = OutcomeDaySum.objects.filter(experiment_id=experiment_id).order_by("day", "variant_id", "metric")
    return [
        (day, vid, metric, n, total)
        for day, vid, metric, n, total in rows.values_list("day", "variant_id", "metric", "events", "total")
    ]
