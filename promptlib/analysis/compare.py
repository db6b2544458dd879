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


def is_higher_better(info: MetricInfo) -> bool | None:
    """A metric's declared direction; None when nobody has said (an unregistered application metric)."""
    return info.higher_is_better


def metric_role(name: str, *, primary: str, guardrails: Sequence[str]) -> str:
    return "primary" if name == primary else "guardrail" if name in guardrails else ""


def clean(value) -> float | None:
    """A float for the page, None for missing, nan or infinite values."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def adjust_and_mark(
    cells: list[Cell], *, higher_is_better: bool | None, alpha: float = ALPHA
) -> tuple[list[Cell], bool]:
    """Holm-adjust the challengers' p-values on one metric; mark significant and better/worse.

    With no direction (None) a significant change is neither better nor worse: no colour, no arrow.
    """
    tested = [i for i, c in enumerate(cells) if c.p_value is not None]
    adjusted = len(tested) > 1
    p_values = holm([cells[i].p_value for i in tested]) if adjusted else [cells[i].p_value for i in tested]
    out = list(cells)
    for i, p in zip(tested, p_values, strict=True):
        cell = out[i]
        significant = p <= alpha and bool(cell.difference)
        good = (cell.difference or 0) > 0 if higher_is_better else (cell.difference or 0) < 0
        known = significant and higher_is_better is not None
        out[i] = replace(cell, p_value=p, significant=significant, better=good if known else None)
    return out, adjusted


# What a challenger does when its value is higher / lower, in words a marketer reads.
PLAIN = {
    "task_success_rate": ("answers correctly more often", "answers correctly less often"),
    "schema_pass_rate": ("follows the output format more often", "follows the output format less often"),
    "retry_rate": ("needs more retries", "needs fewer retries"),
    "latency_p50_ms": ("answers more slowly (typical answer)", "answers faster (typical answer)"),
    "latency_p95_ms": ("is slower on its slowest answers", "is faster on its slowest answers"),
    "cost_per_success_usd": ("costs more per successful answer", "costs less per successful answer"),
    "input_tokens": ("sends longer prompts", "sends shorter prompts"),
    "output_tokens": ("writes longer answers", "writes shorter answers"),
    "consistency": ("gives the same result on every repeat more often", "gives the same result less often"),
    "review_edit_share": ("needs an edit more often", "needs an edit less often"),
    "review_seconds_median": ("takes longer to review", "is quicker to review"),
}


def row_comparisons(row: MetricRow, control_key: str, *, of_what: str = "") -> list[MetricComparison]:
    """`of_what` is what a rate counts, for the sentence ("of test cases")."""
    control = next(c for c in row.cells if c.variant == control_key)
    return [
        MetricComparison(
            variant=c.variant,
            metric=row.metric,
            control_value=control.value,
            variant_value=c.value,
            p_value=c.p_value if c.p_value is not None else 1.0,
            test=c.test,
            higher_is_better=row.higher_is_better,
            is_rate=row.is_rate,
            label=row.label.lower(),
            unit=_unit(row.unit),
            # The tested difference, when it is not the difference of the values shown.
            estimate=None
            if c.difference is None or math.isclose(c.difference, c.value - control.value, abs_tol=1e-12)
            else c.difference,
            p_safe=c.p_safe,
            p_harm=c.p_harm,
            margin_text=c.margin,
            plain=PLAIN.get(row.metric, ()),
            of_what=of_what if row.is_rate else "",
        )
        for c in row.cells
        # A guardrail too small to test still counts: it is not yet shown within its margin.
        if (c.p_value is not None or c.p_safe is not None) and c.value is not None and control.value is not None
    ]


def guardrail_holm(cells_by_metric: dict[str, list[Cell]], *, alpha: float = ALPHA) -> dict[str, list[Cell]]:
    """Holm-adjust each challenger's margin p-values across its guardrails (both directions), and mark
    each guardrail cell safe, failed or not yet shown safe at `alpha`."""
    out = {metric: list(cells) for metric, cells in cells_by_metric.items()}
    variants = {c.variant for cells in out.values() for c in cells if c.p_safe is not None}
    for variant in variants:
        where = [
            (m, i)
            for m, cells in out.items()
            for i, c in enumerate(cells)
            if c.variant == variant and c.p_safe is not None
        ]
        safe = holm([out[m][i].p_safe for m, i in where])
        harm = holm([out[m][i].p_harm for m, i in where])
        for (m, i), p_safe, p_harm in zip(where, safe, harm, strict=True):
            state = "failed" if p_harm <= alpha else "safe" if p_safe <= alpha else "not_shown_safe"
            out[m][i] = replace(out[m][i], p_safe=p_safe, p_harm=p_harm, guardrail=state)
    return out


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
    alpha: float = ALPHA,
    of_what: str = "",
    unit: str = "results",
) -> Verdict:
    """The section's verdict at `alpha`, the variants named by their version ("Version 3")."""
    control = next(v.key for v in variants if v.is_control)
    by_metric = {row.metric: row for row in rows}
    primary_row = by_metric.get(primary_metric)
    primary = row_comparisons(primary_row, control, of_what=of_what) if primary_row else []
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
        alpha=alpha,
        names=variant_names(variants),
        unit=unit,
    )


def variant_names(variants: list[VariantInfo]) -> dict[str, str]:
    """'Version 3' for each variant key: versions are what a marketer edited and sees elsewhere."""
    numbers = [v.version_number for v in variants]
    if len(set(numbers)) < len(numbers):  # two variants of one version: keep their keys apart
        return {v.key: f"Version {v.version_number} ({v.key})" for v in variants}
    return {v.key: f"Version {v.version_number}" for v in variants}


def ordered_rows(rows: list[MetricRow]) -> list[MetricRow]:
    """Primary first, then guardrails, then the rest in their natural order."""
    rank = {"primary": 0, "guardrail": 1, "": 2}
    return sorted(rows, key=lambda r: rank[r.role])
