"""SQL aggregates for the experiment report: one query per need, never one per variant × metric.

Offline (batch items of the experiment's running and finished batches):
  - batch_variant_sums: counts, sums and sums of squares per (batch, variant) — the time series per
    run, and summed over batches, the per-variant totals;
  - batch_case_sums: the same per (case, variant), for paired tests (repeats collapsed in SQL);
  - latency_percentiles: p50 / p95 per variant (with order-statistic bounds for their 95% intervals)
    and per (batch, variant) — PostgreSQL's percentile_cont / percentile_disc, a Python fallback elsewhere;
  - review_sums: human reviews per variant.
Production (outcome events): outcome_sums per (variant, metric) and outcome_days per day.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from django.db import connection
from django.db.models import Count, F, FloatField, Q, Sum
from django.db.models.functions import Cast, TruncDate

from promptlib.metrics import percentile
from promptlib.models import Batch, BatchItem, OutcomeEvent, Review

DONE, FAILED = BatchItem.Status.DONE, BatchItem.Status.FAILED
# Batches whose results count: a running batch shows what it has so far.
COUNTED_BATCHES = (Batch.Status.RUNNING, Batch.Status.FINISHED)
Z95 = 1.959963984540054


def _float(name):
    return Cast(name, FloatField())


def _sq(expr):
    return Sum(expr * expr)


_COST = _float("cost_usd") + _float("judge_cost_usd")
# Per group of calls. Every column is additive, so per-batch rows sum to per-variant totals.
CALL_SUMS = {
    "calls": Count("id"),
    "verdicts": Count("id", filter=Q(success__isnull=False) | Q(status=FAILED)),
    "successes": Count("id", filter=Q(success=True, status=DONE)),
    "schema_checked": Count("schema_passed"),
    "schema_passes": Count("id", filter=Q(schema_passed=True)),
    "attempts_sum": Sum(_float("attempts")),
    "attempts_sq": _sq(_float("attempts")),
    "cost_sum": Sum(_float("cost_usd")),
    "judge_cost_sum": Sum(_float("judge_cost_usd")),
    "cost_sq": _sq(_COST),
    "cost_ok_sum": Sum(_COST, filter=Q(success=True, status=DONE)),
    "input_tokens_sum": Sum(_float("input_tokens")),
    "input_tokens_sq": _sq(_float("input_tokens")),
    "output_tokens_sum": Sum(_float("output_tokens")),
    "output_tokens_sq": _sq(_float("output_tokens")),
    "latency_n": Count("latency_ms", filter=Q(status=DONE)),
    "latency_sum": Sum(_float("latency_ms"), filter=Q(status=DONE)),
}
SUM_NAMES = tuple(CALL_SUMS)


def counted_items(*, experiment_id: int):
    """Finished calls (done or failed) of the experiment's running and finished batches."""
    return BatchItem.objects.filter(
        batch__experiment_id=experiment_id, batch__status__in=COUNTED_BATCHES, status__in=(DONE, FAILED)
    )


def _grouped(queryset, keys: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(keys as an int array, sums as a float array) — NULL sums (no rows) become 0."""
    rows = list(queryset.values(*keys).annotate(**CALL_SUMS).order_by().values_list(*keys, *SUM_NAMES))
    if not rows:
        return np.empty((0, len(keys)), dtype=np.int64), np.empty((0, len(SUM_NAMES)))
    data = np.array(rows, dtype=object)
    ids = data[:, : len(keys)].astype(np.int64)
    sums = np.where(data[:, len(keys) :] == None, 0.0, data[:, len(keys) :]).astype(float)  # noqa: E711
    return ids, sums


def batch_variant_sums(*, experiment_id: int) -> tuple[np.ndarray, np.ndarray]:
    """ids[:, 0] = batch id, ids[:, 1] = variant id; sums columns in SUM_NAMES order."""
    return _grouped(counted_items(experiment_id=experiment_id), ("batch_id", "variant_id"))


def batch_case_sums(*, experiment_id: int) -> tuple[np.ndarray, np.ndarray]:
    """ids[:, 0] = case id, ids[:, 1] = variant id; repeats and batches collapsed per case."""
    return _grouped(counted_items(experiment_id=experiment_id), ("case_id", "variant_id"))


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


def _latency_queryset(experiment_id: int):
    return counted_items(experiment_id=experiment_id).filter(status=DONE, latency_ms__isnull=False)


def latency_percentiles(*, experiment_id: int) -> tuple[dict[int, Percentiles], dict[tuple[int, int], tuple]]:
    """({variant id: Percentiles}, {(batch id, variant id): (p50, p95)})."""
    items = _latency_queryset(experiment_id)
    counts = dict(items.values("variant_id").annotate(n=Count("id")).order_by().values_list("variant_id", "n"))
    if not counts:
        return {}, {}
    if connection.vendor == "postgresql":
        return _percentiles_postgres(items, counts)
    return _percentiles_python(items, counts)


def _fractions(n: int) -> list[float]:
    return [*order_statistic_bounds(n=n, fraction=0.5), *order_statistic_bounds(n=n, fraction=0.95)]


def _percentiles_postgres(items, counts):
    inner, params = items.values("batch_id", "variant_id", "latency_ms").query.sql_with_params()
    bounds = [(vid, *_fractions(n)) for vid, n in counts.items()]
    values_sql = ", ".join(["(%s, %s, %s, %s, %s)"] * len(bounds))
    # Only Django's own compiled SQL and placeholders are interpolated; values go in as parameters.
    overall_sql = (
        "SELECT t.variant_id, percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY t.latency_ms),"  # noqa: S608
        " percentile_disc(ARRAY[f.a, f.b, f.c, f.d]) WITHIN GROUP (ORDER BY t.latency_ms)"
        f" FROM ({inner}) t JOIN (VALUES {values_sql}) AS f(variant_id, a, b, c, d)"
        " ON f.variant_id = t.variant_id"
        " GROUP BY t.variant_id, f.a, f.b, f.c, f.d"
    )
    per_batch_sql = (
        "SELECT t.batch_id, t.variant_id,"  # noqa: S608
        " percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY t.latency_ms)"
        f" FROM ({inner}) t GROUP BY t.batch_id, t.variant_id"
    )
    flat = [float(v) if i else int(v) for row in bounds for i, v in enumerate(row)]
    with connection.cursor() as cursor:
        cursor.execute(overall_sql, [*params, *flat])
        overall = {
            vid: Percentiles(cont[0], cont[1], disc[0], disc[1], disc[2], disc[3], counts[vid])
            for vid, cont, disc in cursor.fetchall()
        }
        cursor.execute(per_batch_sql, params)
        per_batch = {(bid, vid): (cont[0], cont[1]) for bid, vid, cont in cursor.fetchall()}
    return overall, per_batch


def _percentile_disc(ordered: list[float], fraction: float) -> float:
    """PostgreSQL's percentile_disc: the first value whose cumulative share reaches the fraction."""
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _percentiles_python(items, counts):
    """Fallback for SQLite (development and tests): reads the latencies, one column."""
    by_variant: dict[int, list[float]] = defaultdict(list)
    by_batch: dict[tuple[int, int], list[float]] = defaultdict(list)
    for bid, vid, latency in items.values_list("batch_id", "variant_id", "latency_ms").iterator(chunk_size=5000):
        by_variant[vid].append(float(latency))
        by_batch[(bid, vid)].append(float(latency))
    overall = {}
    for vid, values in by_variant.items():
        values.sort()
        disc = [_percentile_disc(values, f) for f in _fractions(len(values))]
        overall[vid] = Percentiles(percentile(values, 0.5), percentile(values, 0.95), *disc, len(values))
    per_batch = {key: (percentile(v, 0.5), percentile(v, 0.95)) for key, v in by_batch.items()}
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
