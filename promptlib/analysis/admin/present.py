"""Turns the experiment report into what the dashboard shows: formatted cells, chart data, side by side."""

from __future__ import annotations

from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef, Q

from promptlib.admin.display import metric_value_text, named_values
from promptlib.analysis.admin.glossary import GLOSSARY, explain
from promptlib.analysis.aggregates import counted_items
from promptlib.analysis.results import Cell, ExperimentReport, MetricRow, Section
from promptlib.batches.models import BatchItem, DatasetCase, ScorerConfig
from promptlib.batches.selectors import item_passages
from promptlib.experiments.models import Experiment
from promptlib.prompts.rendering import PromptError, render
from promptlib.scorers.grounding import source_matches
from promptlib.stats import VerdictState

# Colour-blind-safe palette (Okabe–Ito); the control is always grey.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9"]
CONTROL_COLOUR = "#8a8a8a"
STATE_TEXT = {
    VerdictState.WINNER: "We have a winner",
    VerdictState.COLLECTING_DATA: "Collecting data",
    VerdictState.NO_SIGNIFICANT_DIFFERENCE: "No clear difference yet",
    VerdictState.GUARDRAIL_FAILED: "Guardrail failed",
    VerdictState.GUARDRAIL_NOT_SHOWN_SAFE: "Guardrail not yet shown safe",
    VerdictState.CHALLENGER_WORSE: "Challenger is worse",
    VerdictState.SAMPLE_RATIO_MISMATCH: "Users were not split as planned",
}
GUARDRAIL_TEXT = {
    "safe": "shown within {margin}",
    "failed": "beyond {margin}: guardrail failed",
    "not_shown_safe": "not yet shown within {margin}",
}
FILTER_CACHE_SECONDS = 10
SHOW = {
    "all": "All cases",
    "failing": "Failing cases",
    "disagree": "Variants disagree",
    "review": "Needs review",
}


def fmt(value: float | None, row: MetricRow) -> str:
    return metric_value_text(value, is_rate=row.is_rate, unit=row.unit, other=",.3g")


def fmt_difference(value: float | None, row: MetricRow) -> str:
    if value is None:
        return "—"
    text = f"{value * 100:+.1f} pts" if row.is_rate else fmt(abs(value), row)
    if not row.is_rate:
        text = ("+" if value >= 0 else "−") + text
    return text.replace("-", "−")


def fmt_p(p: float | None) -> str:
    if p is None:
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


def _cell(cell: Cell, row: MetricRow, winner: str | None) -> dict:
    interval = f"{fmt(cell.low, row)} – {fmt(cell.high, row)}" if cell.low is not None and cell.high is not None else ""
    diff_interval = ""
    if cell.difference_low is not None and cell.difference_high is not None:
        diff_interval = f"{fmt_difference(cell.difference_low, row)} to {fmt_difference(cell.difference_high, row)}"
    return {
        "variant": cell.variant,
        "value": fmt(cell.value, row),
        "interval": interval,
        "n": cell.n,
        "difference": fmt_difference(cell.difference, row),
        "difference_interval": diff_interval,
        "p": fmt_p(cell.p_value),
        "chance": f"{cell.chance_to_beat_control:.0%}" if cell.chance_to_beat_control is not None else "",
        "test": cell.test,
        "test_help": explain(cell.test),
        "method": cell.method,
        "guardrail": cell.guardrail,
        "guardrail_text": GUARDRAIL_TEXT[cell.guardrail].format(margin=cell.margin) if cell.guardrail else "",
        "better": cell.better,
        # Tagged where the verdict was decided (the primary metric), not on every row of the winning variant.
        "is_winner": winner == cell.variant and row.role == "primary",
    }


def present_section(section: Section, report: ExperimentReport) -> dict:
    winner = section.verdict.winner if section.verdict.state == VerdictState.WINNER else None
    return {
        "section": section,
        "state_text": "Provisional" if section.provisional else STATE_TEXT[section.verdict.state],
        "glossary": GLOSSARY,
        "is_headline": report.verdict_source == section.kind,
        "rows": [
            {
                "row": row,
                "cells": [_cell(c, row, winner) for c in row.cells],
                "id": f"{section.kind}-{row.metric}",
                "charted": _has_data(row),
            }
            for row in section.rows
        ],
        # A line needs two points: one batch run (or one day) is already in the table.
        "series": [{"series": s, "id": f"{section.kind}-series-{s.metric}"} for s in section.series if len(s.x) > 1],
    }


def _has_data(row) -> bool:
    """A chart with no bar to draw (no value, or all zero without an interval: no cost known, no retry) is left
    out; the table above still says so."""
    return any(c.value or c.high for c in row.cells)


def _colours(report: ExperimentReport) -> dict[str, str]:
    challengers = iter(PALETTE)
    return {v.key: CONTROL_COLOUR if v.is_control else next(challengers, "#444") for v in report.variants}


def chart_payload(report: ExperimentReport) -> dict:
    """Everything dashboard.js draws, as one JSON document."""
    colours = _colours(report)
    winner = report.winner.key if report.winner else None
    charts = []
    for section in (report.production, report.offline):
        for row in filter(_has_data, section.rows):
            charts.append({
                "id": f"{section.kind}-{row.metric}", "type": "interval", "label": row.label,
                "isRate": row.is_rate, "unit": row.unit,
                "variants": [c.variant for c in row.cells], "values": [c.value for c in row.cells],
                "lows": [c.low for c in row.cells], "highs": [c.high for c in row.cells],
                "colours": [colours.get(c.variant, "#444") for c in row.cells],
                "winner": winner if section.kind == report.verdict_source else None,
            })  # fmt: skip
        for series in (s for s in section.series if len(s.x) > 1):
            charts.append({
                "id": f"{section.kind}-series-{series.metric}", "type": "series", "label": series.label,
                "isRate": series.is_rate, "x": series.x,
                "lines": [
                    {"variant": k, "values": v, "colour": colours.get(k, "#444")} for k, v in series.values.items()
                ],
            })  # fmt: skip
    return {"charts": charts}


# --- side by side ---------------------------------------------------------------------------


def _case_ids(experiment: Experiment, show: str) -> list[int]:
    if show == "all":  # no aggregate over the results: the first cases that ran (not every case of the datasets)
        ran = counted_items(experiment_id=experiment.pk).filter(case_id=OuterRef("pk"))
        cases = DatasetCase.objects.filter(Exists(ran)).order_by("position", "pk")
        return list(cases.values_list("pk", flat=True)[:50])
    key = f"promptlib:dashboard-cases:v1:{experiment.pk}:{show}"
    cached = cache.get(key)
    if cached is None:
        cached = _filtered_case_ids(experiment, show)
        cache.set(key, cached, FILTER_CACHE_SECONDS)
    return cached


def _filtered_case_ids(experiment: Experiment, show: str) -> list[int]:
    """A filter reads every result of the experiment: cached briefly, like the report."""
    items = counted_items(experiment_id=experiment.pk)
    if show == "review":
        if not ScorerConfig.objects.filter(experiment=experiment, kind="human_review").exists():
            return []
        items = items.filter(status=BatchItem.Status.DONE, reviews__isnull=True)
    per_case = items.values("case_id", "case__position").annotate(
        passes=Count("id", filter=Q(success=True, status=BatchItem.Status.DONE)),
        fails=Count("id", filter=Q(status=BatchItem.Status.FAILED) | Q(success=False)),
    )
    if show == "failing":
        per_case = per_case.filter(fails__gt=0)
    elif show == "disagree":  # some results passed and some failed on the same case
        per_case = per_case.filter(fails__gt=0, passes__gt=0)
    return [row["case_id"] for row in per_case.order_by("case__position")[:50]]


def _passages(item) -> list[dict]:
    passages = item_passages(retrieved=item.retrieved if item is not None else None)
    return [{**p, "text": p["text"] or "(no longer stored)"} for p in passages]


def _prompt_text(version, case_input, passages: list[dict]) -> str:
    """The prompt as the call saw it: with the passages it was given, for a version with a knowledge base."""
    try:
        return render(version, case_input, knowledge=passages).text
    except PromptError as exc:
        return f"(this prompt no longer renders: {exc})"


def side_by_side(experiment: Experiment, report: ExperimentReport, *, case_id, show: str) -> dict:
    show = show if show in SHOW else "all"
    case_ids = _case_ids(experiment, show)
    cases = DatasetCase.objects.in_bulk(case_ids)
    try:
        selected = int(case_id) if case_id else (case_ids[0] if case_ids else None)
    except ValueError:
        selected = None
    if selected not in cases:
        selected = case_ids[0] if case_ids else None
    columns = []
    if selected is not None:
        case = cases[selected]
        latest = {}
        rows = (
            counted_items(experiment_id=experiment.pk).filter(case_id=selected).order_by("-batch__created_at", "repeat")
        )
        for item in rows.select_related("variant__version")[:200]:
            latest.setdefault(item.variant_id, item)
        for variant in report.variants:
            item = latest.get(variant.id)
            version = item.variant.version if item else None
            passages = _passages(item)
            for passage in passages:
                passage["expected"] = any(source_matches(s, passage["source"]) for s in case.expected_sources or [])
            columns.append({
                "variant": variant, "item": item,
                "prompt": _prompt_text(version, case.input, passages) if version else "",
                "scores": item.scores if item else [],
                "retrieves": bool(version and version.retrieval), "passages": passages,
            })  # fmt: skip
    return {
        "case_list": [cases[c] for c in case_ids if c in cases],
        "selected_case": cases.get(selected) if selected is not None else None,
        "case_input": named_values(cases[selected].input) if selected is not None else [],
        "side_by_side": columns,
        "show": show,
        "show_choices": SHOW,
    }
