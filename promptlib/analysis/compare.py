"""What both sections share: metric descriptions, Holm adjustment per metric, and the verdict."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from promptlib.analysis.results import Cell, MetricRow, VariantInfo
from promptlib.experiments.metrics import METRICS, MetricInfo, unregistered_metric_info
from promptlib.stats import MetricComparison, Verdict, VerdictState, holm, verdict_decide

ALPHA = 0.05


def metric_info(name: str, *, is_rate: bool, registered: Mapping[str, MetricInfo] | None = None) -> MetricInfo:
    """A built-in metric's description, an application metric's as registered, else one with no direction.

    Never assume "higher is better" for a name an application sends: complaints or refunds rising
    would then read as a win.
    """
    if name in METRICS:
        return METRICS[name]
    if registered and name in registered:
        return registered[name]
    return unregistered_metric_info(name, is_rate=is_rate)


def metric_role(name: str, *, primary: str, guardrails: Sequence[str]) -> str:
    return "primary" if name == primary else "guardrail" if name in guardrails else ""


def clean(value) -> float | None:
    """A float for the page, None for missing, nan or infinite values."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def adjust_and_mark(cells: list[Cell], *, higher_is_better: bool | None) -> tuple[list[Cell], bool]:
    """Holm-adjust the challengers' p-values on one metric; mark significant and better/worse.

    With no direction (None) a significant change is neither better nor worse: no colour, no arrow.
    """
    tested = [i for i, c in enumerate(cells) if c.p_value is not None]
    adjusted = len(tested) > 1
    p_values = holm([cells[i].p_value for i in tested]) if adjusted else [cells[i].p_value for i in tested]
    out = list(cells)
    for i, p in zip(tested, p_values, strict=True):
        cell = out[i]
        significant = p <= ALPHA and bool(cell.difference)
        good = (cell.difference or 0) > 0 if higher_is_better else (cell.difference or 0) < 0
        known = significant and higher_is_better is not None
        out[i] = replace(cell, p_value=p, significant=significant, better=good if known else None)
    return out, adjusted


def row_comparisons(row: MetricRow, control_key: str) -> list[MetricComparison]:
    control = next(c for c in row.cells if c.variant == control_key)
    return [
        MetricComparison(
            variant=c.variant,
            metric=row.metric,
            control_value=control.value,
            variant_value=c.value,
            p_value=c.p_value,
            test=c.test,
            higher_is_better=row.higher_is_better,
            is_rate=row.is_rate,
            label=row.label.lower(),
            unit=_unit(row.unit),
        )
        for c in row.cells
        if c.p_value is not None and c.value is not None and control.value is not None
    ]


def _guardrail_comparisons(row: MetricRow, control_key: str) -> list[MetricComparison]:
    """A guardrail with no direction counts a significant change either way as harm (the cautious reading)."""
    comparisons = row_comparisons(row, control_key)
    if row.higher_is_better is not None:
        return comparisons
    return [replace(c, higher_is_better=c.difference < 0) for c in comparisons]


def _unit(unit: str) -> str:
    return {"ms": " ms", "seconds": " s", "USD": " USD", "tokens": " tokens"}.get(unit, "")


def section_verdict(
    *,
    rows: list[MetricRow],
    variants: list[VariantInfo],
    sample_sizes: dict[str, int],
    primary_metric: str,
    guardrails: Sequence[str],
    where: str,
) -> Verdict:
    control = next(v.key for v in variants if v.is_control)
    by_metric = {row.metric: row for row in rows}
    primary_row = by_metric.get(primary_metric)
    primary = row_comparisons(primary_row, control) if primary_row else []
    if primary and primary_row.higher_is_better is None:
        return Verdict(
            state=VerdictState.NO_SIGNIFICANT_DIFFERENCE,
            reason=f"No winner can be named: nobody has said whether a higher or a lower “{primary_row.label}” "
            "is better. Register it under Application metrics with its direction.",
            metric=primary_metric,
        )
    if not primary:
        return Verdict(
            state=VerdictState.COLLECTING_DATA,
            reason=f"Collecting data: no {where} results for the primary metric ({primary_metric}) yet.",
        )
    guardrail_comparisons = [
        c for g in guardrails if g in by_metric for c in _guardrail_comparisons(by_metric[g], control)
    ]
    return verdict_decide(
        primary=primary,
        guardrails=guardrail_comparisons,
        sample_sizes=sample_sizes,
        control=control,
        alpha=ALPHA,
    )


def ordered_rows(rows: list[MetricRow]) -> list[MetricRow]:
    """Primary first, then guardrails, then the rest in their natural order."""
    rank = {"primary": 0, "guardrail": 1, "": 2}
    return sorted(rows, key=lambda r: rank[r.role])
