"""SQL aggregates for the experiment report: one query per need, never one per variant × metric.

Offline (batch items of the experiment's running and finished batches):
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

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate

from promptlib.batches.models import Batch, BatchItem, Review
from promptlib.batches.rollups import batch_rollups_ready
from promptlib.batches.sums import (
    CASE_NAMES,
    CASE_ROLLUP,
    DONE,
    FAILED,
    LATENCY_ROLLUP,
    PICO,
    PICO_SUMS,
    SUM_NAMES,
    VARIANT_ROLLUP,
    sums_sql,
)
from promptlib.experiments.models import OutcomeEvent

# Batches whose results count: a running batch shows what it has so far.
COUNTED_BATCHES = (Batch.Status.RUNNING, Batch.Status.FINISHED)
Z95 = 1.959963984540054


def counted_items(*, experiment_id: int):
    """Finished calls (done or failed) of the experiment's running and finished batches."""
    return BatchItem.objects.filter(
        batch__experiment_id=experiment_id, batch__status__in=COUNTED_BATCHES, status__in=(DONE, FAILED)
    )


def counted_batch_ids(*, experiment_id: int) -> list[int]:
    return list(
        Batch.objects.filter(experiment_id=experiment_id, status__in=COUNTED_BATCHES).values_list("pk", flat=True)
    )


# Rollups missing on a report (normally built when a batch finishes): built for at most this long per
# report, the rest read from their items this time (`manage.py build_rollups` backfills them all).
LAZY_BUILD_SECONDS = 3.0


@dataclass(frozen=True)
class Sources:
    """The counted batches: read from their rollups (finished) or from their items (running)."""

    rolled_up: list[int]
    live: list[int]

    def __bool__(self) -> bool:
        return bool(self.rolled_up or self.live)


def batch_sources(*, experiment_id: int, rollups: bool = True) -> Sources:
    """rollups=False reads every batch from its items (the reference the rollups are tested against)."""
    batch_ids = counted_batch_ids(experiment_id=experiment_id)
    ready = (
        batch_rollups_ready(batch_ids=batch_ids, budget_seconds=LAZY_BUILD_SECONDS) if rollups and batch_ids else set()
    )
    return Sources(sorted(ready), [b for b in batch_ids if b not in ready])


def _fetch(sources: Sources, rollup, keys: str, names: tuple[str, ...]) -> list[tuple]:
    # Batch ids fetched first: a plain IN list lets the database skip the join to the batch table.
    sql, params = sums_sql(rollup=rollup, keys=keys, names=names, rolled_up=sources.rolled_up, live=sources.live)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Tens of thousands of (case, variant) groups: hashed in memory rather than spilled to disk
            # (measured 1.5-2× faster than the default 4 MB). Only for this transaction.
            cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(sql, params)
        return cursor.fetchall()


def _arrays(rows: list[tuple], keys: int, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(keys as an int array, sums as a float array, costs in USD) — NULL sums (no rows) become 0."""
    if not rows:
        return np.empty((0, keys), dtype=np.int64), np.empty((0, len(names)))
    data = np.array(rows, dtype=float)  # NULL becomes nan; ids are exact below 2**53
    sums = np.where(np.isnan(data[:, keys:]), 0.0, data[:, keys:])
    for i, name in enumerate(names):
        if name in PICO_SUMS:
            sums[:, i] /= PICO
    return data[:, :keys].astype(np.int64), sums


@dataclass(frozen=True)
class CallSums:
    """batch_ids: [batch, variant], sums in SUM_NAMES order; case_ids: [case, variant], sums in CASE_NAMES order."""

    batch_ids: np.ndarray
    batch_sums: np.ndarray
    case_ids: np.ndarray
    case_sums: np.ndarray


def call_sums(*, sources: Sources) -> CallSums:
    """Sums per (batch, variant) — time series and totals — and per (case, variant) — paired tests.

    Two grouped queries (GROUPING SETS measured no faster on PostgreSQL: it sorts for the second set).
    """
    if not sources:
        return CallSums(*_arrays([], 2, SUM_NAMES), *_arrays([], 2, CASE_NAMES))
    # In key order: per-variant totals add these float rows up, and the same order gives the same bits.
    by_batch = sorted(_fetch(sources, VARIANT_ROLLUP, "batch_id, variant_id", SUM_NAMES), key=lambda row: row[:2])
    by_case = _fetch(sources, CASE_ROLLUP, "case_id, variant_id", CASE_NAMES)
    return CallSums(*_arrays(by_batch, 2, SUM_NAMES), *_arrays(by_case, 2, CASE_NAMES))


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


def latency_percentiles(*, sources: Sources) -> tuple[dict[int, Percentiles], dict[tuple[int, int], tuple]]:
    """({variant id: Percentiles}, {(batch id, variant id): (p50, p95)}).

    Latencies are whole milliseconds, so the database returns how often each value occurs (a few
    thousand rows for a million calls) and the percentiles are computed exactly from that
    histogram: the same numbers as PostgreSQL's percentile_cont / percentile_disc, without
    sorting every call twice, and the same on SQLite.
    """
    if not sources:
        return {}, {}
    histogram = _fetch(sources, LATENCY_ROLLUP, LATENCY_ROLLUP.keys, LATENCY_ROLLUP.names)
    rows = np.array(histogram, dtype=float).reshape(-1, 4)
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
