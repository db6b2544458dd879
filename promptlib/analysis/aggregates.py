"""SQL aggregates for the experiment report: one query per need, never one per variant × metric.

Offline (batch items of the experiment's running and finished batches):
  - call_sums: counts, sums and sums of squares per (batch, variant) — the time series per run, and
    summed over batches, the per-variant totals — and per (case, variant) for paired tests (repeats
    collapsed in SQL);
  - latency_percentiles: p50 / p95 per variant (with order-statistic bounds for their 95% intervals)
    and per (batch, variant), exact, from a histogram of latencies grouped in SQL;
  - review_sums: human reviews per variant.
Production (outcome events): outcome_sums per (variant, metric) and outcome_days per day.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from django.db import connection
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate

from promptlib.models import Batch, BatchItem, OutcomeEvent, Review

DONE, FAILED = BatchItem.Status.DONE, BatchItem.Status.FAILED
# Batches whose results count: a running batch shows what it has so far.
COUNTED_BATCHES = (Batch.Status.RUNNING, Batch.Status.FINISHED)
Z95 = 1.959963984540054


# Per group of calls, as SQL that PostgreSQL and SQLite (3.30+, FILTER clauses) both run. Every column is
# additive, so per-batch rows sum to per-variant totals. Constant text: values go in as parameters.
_F = "CAST({} AS DOUBLE PRECISION)"
_COST = f"({_F.format('cost_usd')} + {_F.format('judge_cost_usd')})"
_OK = "success AND status = 'done'"
CALL_SUMS = {
    "calls": "COUNT(*)",
    "verdicts": "COUNT(*) FILTER (WHERE success IS NOT NULL OR status = 'failed')",
    "successes": f"COUNT(*) FILTER (WHERE {_OK})",
    "schema_checked": "COUNT(schema_passed)",
    "schema_passes": "COUNT(*) FILTER (WHERE schema_passed)",
    "attempts_sum": f"SUM({_F.format('attempts')})",
    "attempts_sq": f"SUM({_F.format('attempts')} * attempts)",
    "cost_sum": f"SUM({_F.format('cost_usd')})",
    "judge_cost_sum": f"SUM({_F.format('judge_cost_usd')})",
    "cost_sq": f"SUM({_COST} * {_COST})",
    "cost_ok_sum": f"SUM({_COST}) FILTER (WHERE {_OK})",
    "input_tokens_sum": f"SUM({_F.format('input_tokens')})",
    "input_tokens_sq": f"SUM({_F.format('input_tokens')} * input_tokens)",
    "output_tokens_sum": f"SUM({_F.format('output_tokens')})",
    "output_tokens_sq": f"SUM({_F.format('output_tokens')} * output_tokens)",
    "latency_n": "COUNT(latency_ms) FILTER (WHERE status = 'done')",
    "latency_sum": f"SUM({_F.format('latency_ms')}) FILTER (WHERE status = 'done')",
}
SUM_NAMES = tuple(CALL_SUMS)
# Per case, only what the paired tests read (fewer aggregates: this grouping has the most groups).
CASE_NAMES = (
    "calls", "verdicts", "successes", "schema_checked", "schema_passes", "attempts_sum", "cost_sum",
    "judge_cost_sum", "input_tokens_sum", "output_tokens_sum", "latency_n", "latency_sum",
)  # fmt: skip
_SELECT = ", ".join(CALL_SUMS.values())
_CASE_SELECT = ", ".join(CALL_SUMS[name] for name in CASE_NAMES)
_TABLE = BatchItem._meta.db_table


def counted_items(*, experiment_id: int):
    """Finished calls (done or failed) of the experiment's running and finished batches."""
    return BatchItem.objects.filter(
        batch__experiment_id=experiment_id, batch__status__in=COUNTED_BATCHES, status__in=(DONE, FAILED)
    )


def counted_batch_ids(*, experiment_id: int) -> list[int]:
    return list(
        Batch.objects.filter(experiment_id=experiment_id, status__in=COUNTED_BATCHES).values_list("pk", flat=True)
    )


def _where(batch_ids: list[int]) -> tuple[str, list]:
    # Batch ids fetched first: a plain IN list lets the database skip the join to the batch table.
    marks = ", ".join(["%s"] * len(batch_ids))
    return f"batch_id IN ({marks}) AND status IN (%s, %s)", [*batch_ids, DONE, FAILED]


def _arrays(rows: list[tuple], keys: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """(keys as an int array, sums as a float array) — NULL sums (no rows) become 0."""
    if not rows:
        return np.empty((0, keys), dtype=np.int64), np.empty((0, columns))
    data = np.array(rows, dtype=object)
    sums = data[:, keys:]
    return data[:, :keys].astype(np.int64), np.where(sums == None, 0.0, sums).astype(float)  # noqa: E711


@dataclass(frozen=True)
class CallSums:
    """batch_ids: [batch, variant], sums in SUM_NAMES order; case_ids: [case, variant], sums in CASE_NAMES order."""

    batch_ids: np.ndarray
    batch_sums: np.ndarray
    case_ids: np.ndarray
    case_sums: np.ndarray


def call_sums(*, experiment_id: int) -> CallSums:
    """Sums per (batch, variant) — time series and totals — and per (case, variant) — paired tests.

    Two grouped queries (GROUPING SETS measured no faster on PostgreSQL: it sorts for the second set).
    """
    batch_ids = counted_batch_ids(experiment_id=experiment_id)
    if not batch_ids:
        return CallSums(*_arrays([], 2, len(SUM_NAMES)), *_arrays([], 2, len(CASE_NAMES)))
    where, params = _where(batch_ids)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT batch_id, variant_id, {_SELECT} FROM {_TABLE} WHERE {where} GROUP BY 1, 2", params)  # noqa: S608
        by_batch = cursor.fetchall()
        cursor.execute(f"SELECT case_id, variant_id, {_CASE_SELECT} FROM {_TABLE} WHERE {where} GROUP BY 1, 2", params)  # noqa: S608
        by_case = cursor.fetchall()
    return CallSums(*_arrays(by_batch, 2, len(SUM_NAMES)), *_arrays(by_case, 2, len(CASE_NAMES)))


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p95: float
    # Order-statistic (distribution-free) 95% bounds of each percentile.
    p50_low: float
    p50_high: float
    p95_low: float
    p95_high: float
    n: int


def order_statistic_bounds(*, n: int, fraction: float) -> tuple[float, float]:
    """The fractions whose order statistics bound the `fraction` quantile with 95% confidence.

    The rank of the true quantile among n values is Binomial(n, q): its normal bounds, as fractions.
    """
    half = Z95 * math.sqrt(fraction * (1 - fraction) / n)
    return max(0.0, fraction - half), min(1.0, fraction + half)


def _cont(values: np.ndarray, cumulative: np.ndarray, fraction: float) -> float:
    """percentile_cont (linear interpolation, numpy's default) from sorted distinct values and counts."""
    n = int(cumulative[-1])
    h = (n - 1) * fraction
    low = values[np.searchsorted(cumulative, math.floor(h) + 1)]
    high = values[np.searchsorted(cumulative, math.ceil(h) + 1)]
    return float(low + (h - math.floor(h)) * (high - low))


def _disc(values: np.ndarray, cumulative: np.ndarray, fraction: float) -> float:
    """percentile_disc: the first value whose cumulative share reaches the fraction."""
    rank = max(1, math.ceil(fraction * cumulative[-1]))
    return float(values[np.searchsorted(cumulative, rank)])


def _from_histogram(values: np.ndarray, counts: np.ndarray) -> Percentiles:
    order = np.argsort(values)
    values, cumulative = values[order], np.cumsum(counts[order])
    n = int(cumulative[-1])
    bounds = [*order_statistic_bounds(n=n, fraction=0.5), *order_statistic_bounds(n=n, fraction=0.95)]
    return Percentiles(
        _cont(values, cumulative, 0.5),
        _cont(values, cumulative, 0.95),
        *(_disc(values, cumulative, f) for f in bounds),
        n,
    )


def latency_percentiles(*, experiment_id: int) -> tuple[dict[int, Percentiles], dict[tuple[int, int], tuple]]:
    """({variant id: Percentiles}, {(batch id, variant id): (p50, p95)}).

    Latencies are whole milliseconds, so the database returns how often each value occurs (a few
    thousand rows for a million calls) and the percentiles are computed exactly from that
    histogram: the same numbers as PostgreSQL's percentile_cont / percentile_disc, without
    sorting every call twice, and the same on SQLite.
    """
    batch_ids = counted_batch_ids(experiment_id=experiment_id)
    if not batch_ids:
        return {}, {}
    marks = ", ".join(["%s"] * len(batch_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT batch_id, variant_id, latency_ms, COUNT(*) FROM {_TABLE}"  # noqa: S608
            f" WHERE batch_id IN ({marks}) AND status = %s AND latency_ms IS NOT NULL GROUP BY 1, 2, 3",
            [*batch_ids, DONE],
        )
        rows = np.array(cursor.fetchall(), dtype=float).reshape(-1, 4)
    overall, per_batch = {}, {}
    for vid in np.unique(rows[:, 1]):
        mine = rows[rows[:, 1] == vid]
        latencies, index = np.unique(mine[:, 2], return_inverse=True)
        overall[int(vid)] = _from_histogram(latencies, np.bincount(index, weights=mine[:, 3]))
        for bid in np.unique(mine[:, 0]):
            run = mine[mine[:, 0] == bid]
            p = _from_histogram(run[:, 2], run[:, 3])
            per_batch[(int(bid), int(vid))] = (p.p50, p.p95)
    return overall, per_batch


@dataclass(frozen=True)
class ReviewSums:
    edit_known: int
    edits: int
    seconds: list[float]  # reviews are made by people, so there are few: medians read them


def review_sums(*, experiment_id: int) -> dict[int, ReviewSums]:
    reviews = Review.objects.filter(
        result__batch__experiment_id=experiment_id, result__batch__status__in=COUNTED_BATCHES
    )
    seconds: dict[int, list[float]] = defaultdict(list)
    for vid, value in reviews.values_list("result__variant_id", "seconds"):
        seconds[vid].append(value)
    counts = reviews.values("result__variant_id").annotate(
        n=Count("id"), edits=Count("id", filter=~Q(edited_output=""))
    )
    return {
        row["result__variant_id"]: ReviewSums(row["n"], row["edits"], sorted(seconds[row["result__variant_id"]]))
        for row in counts.order_by()
    }


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
