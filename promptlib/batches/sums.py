"""The SQL sums every batch metric is read from, over batch items or over their rollups.

One path for every reader: the batch page, the batch API and run_batch (one batch) and the
experiment report (all its counted batches) read these sums; promptlib.experiments.metrics turns
them into metrics (metrics_from_aggregates), and its Python twin over CallRecords is the reference
the tests hold this path to.

Per group of calls, as SQL that PostgreSQL and SQLite (3.30+, FILTER clauses) both run. Every
column is additive, so rows of the rollup tables, whose columns carry these names — per (batch,
variant) and per (batch, variant, case) — sum to per-variant and per-case totals. Constant text:
values always go in as parameters. Below the SQL, the readers: sums as arrays, latency percentiles
from a histogram, reviews, and the per-variant aggregates the metric formulas read.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction

from promptlib.batches.models import BatchCaseSummary, BatchItem, BatchLatencyCount, BatchVariantSummary, Review
from promptlib.experiments.metrics import percentile, review_cost_usd

DONE, FAILED = BatchItem.Status.DONE, BatchItem.Status.FAILED
ITEMS = BatchItem._meta.db_table
CASE_SUMMARIES = BatchCaseSummary._meta.db_table
VARIANT_SUMMARIES = BatchVariantSummary._meta.db_table
LATENCY_COUNTS = BatchLatencyCount._meta.db_table

_F = "CAST({} AS DOUBLE PRECISION)"
_COST = f"({_F.format('cost_usd')} + {_F.format('judge_cost_usd')})"
_OK = "success AND status = 'done'"
# A call answered from the cache, or failed before reaching the model, made no attempt: it counts as one.
# (Rollups built before this rule summed raw attempts: `manage.py build_rollups --rebuild` once.)
_ATTEMPTS = _F.format("CASE WHEN attempts > 1 THEN attempts ELSE 1 END")
# Costs are summed exactly, as whole pico-dollars: a float sum depends on the order of its terms, so
# per-case costs differed in their last bits between two runs of a parallel query (and would between
# rollups and items), and the signed-rank test treats exact ties apart. Divided by PICO on reading.
PICO = 1e12
_PICO = "CAST(ROUND({} * 1000000000000) AS BIGINT)"
PICO_SUMS = ("cost_sum", "judge_cost_sum", "cost_ok_sum")
CALL_SUMS = {
    "calls": "COUNT(*)",
    "verdicts": "COUNT(*) FILTER (WHERE success IS NOT NULL OR status = 'failed')",
    "successes": f"COUNT(*) FILTER (WHERE {_OK})",
    "schema_checked": "COUNT(schema_passed)",
    "schema_passes": "COUNT(*) FILTER (WHERE schema_passed)",
    "attempts_sum": f"SUM({_ATTEMPTS})",
    "attempts_sq": f"SUM({_ATTEMPTS} * {_ATTEMPTS})",
    "cost_sum": f"SUM({_PICO.format('cost_usd')})",
    "judge_cost_sum": f"SUM({_PICO.format('judge_cost_usd')})",
    "judge_unread": "COUNT(*) FILTER (WHERE judge_unread > 0)",
    "cost_sq": f"SUM({_COST} * {_COST})",
    "cost_ok_sum": f"SUM({_PICO.format('cost_usd')} + {_PICO.format('judge_cost_usd')}) FILTER (WHERE {_OK})",
    "input_tokens_sum": f"SUM({_F.format('input_tokens')})",
    "input_tokens_sq": f"SUM({_F.format('input_tokens')} * input_tokens)",
    "output_tokens_sum": f"SUM({_F.format('output_tokens')})",
    "output_tokens_sq": f"SUM({_F.format('output_tokens')} * output_tokens)",
    "latency_n": "COUNT(latency_ms) FILTER (WHERE status = 'done')",
    "latency_sum": f"SUM({_F.format('latency_ms')}) FILTER (WHERE status = 'done')",
    # Retrieval (promptlib.scorers.grounding): zeros on calls without it.
    "context_expected_sum": f"SUM({_F.format('context_expected')})",
    "context_found_sum": f"SUM({_F.format('context_found')})",
    "grounded_calls": "COUNT(*) FILTER (WHERE context_expected > 0)",
    "grounded_hits": "COUNT(*) FILTER (WHERE context_expected > 0 AND context_found > 0)",
    "citations_made_sum": f"SUM({_F.format('citations_made')})",
    "citations_valid_sum": f"SUM({_F.format('citations_valid')})",
    "faithful_checked": "COUNT(faithful)",
    "faithful_passes": "COUNT(*) FILTER (WHERE faithful)",
    "retrieval_n": "COUNT(retrieval_ms)",
    "retrieval_ms_sum": f"SUM({_F.format('retrieval_ms')})",
}
SUM_NAMES = tuple(CALL_SUMS)
# Per case, only what the paired tests read (fewer aggregates: this grouping has the most groups).
CASE_NAMES = (
    "calls", "verdicts", "successes", "schema_checked", "schema_passes", "attempts_sum", "cost_sum",
    "judge_cost_sum", "input_tokens_sum", "output_tokens_sum", "latency_n", "latency_sum",
    "context_expected_sum", "context_found_sum", "grounded_calls", "grounded_hits", "citations_made_sum",
    "citations_valid_sum", "faithful_checked", "faithful_passes", "retrieval_n", "retrieval_ms_sum",
)  # fmt: skip


@dataclass(frozen=True)
class Rollup:
    """A rollup table: its key columns, and the sums (named as its columns) over which items."""

    table: str
    keys: str
    sums: dict[str, str]
    where: str  # which items count, after "batch_id IN (…) AND"
    params: tuple

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.sums)

    def build_sql(self) -> str:
        """INSERT the rollup rows of one batch (parameters: the batch id, then self.params)."""
        where = f"batch_id = %s AND {self.where}"
        select = item_sums_sql(keys=self.keys, sums=self.sums, names=self.names, where=where)
        return f"INSERT INTO {self.table} ({self.keys}, {', '.join(self.names)}) {select}"


COUNTED = "status IN (%s, %s)"
VARIANT_ROLLUP = Rollup(VARIANT_SUMMARIES, "batch_id, variant_id", CALL_SUMS, COUNTED, (DONE, FAILED))
CASE_ROLLUP = Rollup(CASE_SUMMARIES, "batch_id, variant_id, case_id", CALL_SUMS, COUNTED, (DONE, FAILED))
# The latency histogram: how often each whole millisecond occurs among done calls.
LATENCY_ROLLUP = Rollup(
    LATENCY_COUNTS, "batch_id, variant_id, latency_ms", {"calls": "COUNT(*)"},
    "status = %s AND latency_ms IS NOT NULL", (DONE,),
)  # fmt: skip


def marks(values: list) -> str:
    return ", ".join(["%s"] * len(values))


def item_sums_sql(*, keys: str, sums: dict[str, str], names: tuple[str, ...], where: str) -> str:
    """SELECT keys, each named sum AS its name FROM the items WHERE … GROUP BY keys."""
    columns = ", ".join(f"{sums[name]} AS {name}" for name in names)
    return f"SELECT {keys}, {columns} FROM {ITEMS} WHERE {where} GROUP BY {keys}"  # noqa: S608


def sums_sql(
    *, rollup: Rollup, keys: str, names: tuple[str, ...], rolled_up: list[int], live: list[int]
) -> tuple[str, list]:
    """(SQL, params): sums per `keys` over the rollup rows of the `rolled_up` batches and the items of
    the `live` ones (running batches: small next to the history).

    With rollups, summed again in SQL, as doubles so that both branches give one type: a case has
    rows in several batches. Without, the items are grouped directly.
    """
    live_where = f"batch_id IN ({marks(live)}) AND {rollup.where}"
    if not rolled_up:
        return item_sums_sql(keys=keys, sums=rollup.sums, names=names, where=live_where), [*live, *rollup.params]
    branches = [f"SELECT {keys}, {', '.join(names)} FROM {rollup.table} WHERE batch_id IN ({marks(rolled_up)})"]  # noqa: S608
    params = list(rolled_up)
    if live:
        branches.append(item_sums_sql(keys=keys, sums=rollup.sums, names=names, where=live_where))
        params += [*live, *rollup.params]
    outer = ", ".join(f"CAST(SUM({name}) AS DOUBLE PRECISION)" for name in names)
    return f"SELECT {keys}, {outer} FROM ({' UNION ALL '.join(branches)}) parts GROUP BY {keys}", params  # noqa: S608


# --- reading the sums ------------------------------------------------------------------------

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Sources:
    """The batches to read: from their rollups (finished, rollups current) or from their items."""

    rolled_up: list[int]
    live: list[int]

    def __bool__(self) -> bool:
        return bool(self.rolled_up or self.live)


def sums_fetch(*, sources: Sources, rollup: Rollup, keys: str, names: tuple[str, ...]) -> list[tuple]:
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
    by_batch = sorted(
        sums_fetch(sources=sources, rollup=VARIANT_ROLLUP, keys="batch_id, variant_id", names=SUM_NAMES),
        key=lambda row: row[:2],
    )
    by_case = sums_fetch(sources=sources, rollup=CASE_ROLLUP, keys="case_id, variant_id", names=CASE_NAMES)
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
    histogram = sums_fetch(sources=sources, rollup=LATENCY_ROLLUP, keys=LATENCY_ROLLUP.keys, names=LATENCY_ROLLUP.names)
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
    seconds_total: float = 0.0  # every review's time, second reviews of a call included: what reviewing cost


def review_sums(*, batch_ids: list[int]) -> dict[int, ReviewSums]:
    """{variant id: sums} over the reviewed calls of these batches: each call counts once, by its first review,
    in review effort; every review's time counts in seconds_total (what reviewing cost)."""
    first: dict[int, tuple[int, float, bool]] = {}
    spent: dict[int, float] = defaultdict(float)
    rows = (
        Review.objects.filter(result__batch_id__in=batch_ids, result__status__in=(DONE, FAILED))
        .order_by("created_at", "id")
        .values_list("result_id", "result__variant_id", "seconds", "edited_output")
    )
    for result_id, variant_id, seconds, edited in rows:
        first.setdefault(result_id, (variant_id, seconds, bool(edited)))
        spent[variant_id] += seconds
    per_variant: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    for variant_id, seconds, edited in first.values():
        per_variant[variant_id].append((seconds, edited))
    return {
        vid: ReviewSums(
            len(calls), sum(edited for _, edited in calls), sorted(seconds for seconds, _ in calls), spent[vid]
        )
        for vid, calls in per_variant.items()
    }


def variant_aggregates(
    *,
    sums: CallSums,
    percentiles: dict[int, Percentiles],
    reviews: dict[int, ReviewSums],
    reviewer_hourly_usd: float = 0.0,
) -> dict[int, dict[str, float | int | None]]:
    """{variant id: the aggregates promptlib.experiments.metrics.metrics_from_aggregates reads}, over every
    batch in `sums`; consistency counts (case, variant) groups, repeats across those batches together."""
    calls, successes = CASE_NAMES.index("calls"), CASE_NAMES.index("successes")
    result = {}
    for vid in np.unique(sums.batch_ids[:, 1]).tolist():
        totals = sums.batch_sums[sums.batch_ids[:, 1] == vid].sum(axis=0)
        mine = sums.case_ids[:, 1] == vid
        n, ok = sums.case_sums[mine, calls], sums.case_sums[mine, successes]
        pct, review = percentiles.get(vid), reviews.get(vid)
        result[vid] = {
            **dict(zip(SUM_NAMES, totals.tolist(), strict=True)),
            "repeated_cases": int(np.sum(n >= 2)),
            "consistent_cases": int(np.sum((n >= 2) & (ok == n))),
            "latency_p50": pct.p50 if pct else None,
            "latency_p95": pct.p95 if pct else None,
            "review_seconds_p50": percentile(review.seconds, 0.5) if review else None,
            "edit_known": review.edit_known if review else 0,
            "edits": review.edits if review else 0,
            "review_cost_sum": review_cost_usd(
                seconds=review.seconds_total if review else 0.0, hourly_usd=reviewer_hourly_usd
            ),
        }
    return result
