"""The SQL sums the offline report is built from, over batch items or over their rollups.

Per group of calls, as SQL that PostgreSQL and SQLite (3.30+, FILTER clauses) both run. Every
column is additive, so rows of the rollup tables, whose columns carry these names — per (batch,
variant) and per (batch, variant, case) — sum to per-variant and per-case totals. Constant text:
values always go in as parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptlib.batches.models import BatchCaseSummary, BatchItem, BatchLatencyCount, BatchVariantSummary

DONE, FAILED = BatchItem.Status.DONE, BatchItem.Status.FAILED
ITEMS = BatchItem._meta.db_table
CASE_SUMMARIES = BatchCaseSummary._meta.db_table
VARIANT_SUMMARIES = BatchVariantSummary._meta.db_table
LATENCY_COUNTS = BatchLatencyCount._meta.db_table

_F = "CAST({} AS DOUBLE PRECISION)"
_COST = f"({_F.format('cost_usd')} + {_F.format('judge_cost_usd')})"
_OK = "success AND status = 'done'"
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
    "attempts_sum": f"SUM({_F.format('attempts')})",
    "attempts_sq": f"SUM({_F.format('attempts')} * attempts)",
    "cost_sum": f"SUM({_PICO.format('cost_usd')})",
    "judge_cost_sum": f"SUM({_PICO.format('judge_cost_usd')})",
    "cost_sq": f"SUM({_COST} * {_COST})",
    "cost_ok_sum": f"SUM({_PICO.format('cost_usd')} + {_PICO.format('judge_cost_usd')}) FILTER (WHERE {_OK})",
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
