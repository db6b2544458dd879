"""Guardrail margins: how much worse a challenger may be on a guardrail metric and still pass.

Here, in the experiments wing, because the experiment form offers them; the analysis tests them.

A margin is either a share of the control's value (latency, cost, tokens: +10% means "at most 10%
slower") or points of a rate (success, format: 2 points means "at most 2 points lower"). Each
experiment may pick its own per metric (Experiment.guardrail_margins); otherwise the default here.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptlib.experiments.metrics import METRICS
from promptlib.experiments.models import Experiment
from promptlib.experiments.services import ExperimentError

# Metrics whose margin is in points of a rate (the rates of promptlib.experiments.metrics); every other
# margin is a share of the control's value.
POINTS = {name for name, info in METRICS.items() if info.kind == "rate"}
DEFAULT_MARGINS = {
    "task_success_rate": 0.02,
    "schema_pass_rate": 0.02,
    "consistency": 0.05,
    "review_edit_share": 0.05,
    "latency_p50_ms": 0.10,
    "latency_p95_ms": 0.10,
    "cost_per_success_usd": 0.05,
    "retry_rate": 0.10,
    "input_tokens": 0.10,
    "output_tokens": 0.10,
    "review_seconds_median": 0.10,
    "context_recall": 0.05,
    "retrieval_hit_rate": 0.05,
    "citation_validity": 0.05,
    "faithfulness_rate": 0.02,
    "retrieval_ms_mean": 0.20,
}
RELATIVE_DEFAULT = 0.10  # a metric an application reports
POINT_CHOICES = (0.01, 0.02, 0.05, 0.10)
SHARE_CHOICES = (0.02, 0.05, 0.10, 0.20, 0.50)


@dataclass(frozen=True)
class Margin:
    value: float
    relative: bool  # a share of the control's value; else points of a rate

    @property
    def text(self) -> str:
        """'+10%' or '2 points'."""
        if self.relative:
            return f"+{self.value * 100:g}%"
        points = self.value * 100
        return f"{points:g} point{'' if points == 1 else 's'}"


def margin_text(*, metric: str, value: float) -> str:
    return Margin(value, metric not in POINTS).text


def margin_choices(metric: str) -> list[tuple[float, str]]:
    """What a marketer picks from: [(0.1, '+10% worse at most'), …]."""
    values = POINT_CHOICES if metric in POINTS else SHARE_CHOICES
    worse = "lower" if metric in POINTS and metric != "review_edit_share" else "worse"
    return [(v, f"{margin_text(metric=metric, value=v)} {worse} at most") for v in values]


def guardrail_margin(*, experiment: Experiment, metric: str) -> Margin:
    chosen = (experiment.guardrail_margins or {}).get(metric)
    value = float(chosen) if isinstance(chosen, int | float) and chosen >= 0 else None
    if value is None:
        value = DEFAULT_MARGINS.get(metric, RELATIVE_DEFAULT)
    return Margin(value, metric not in POINTS)


def experiment_margins_set(*, experiment: Experiment, margins: dict[str, float | None]) -> Experiment:
    """Store the margins a marketer picked ({metric: value}; None = the default), only among the offered ones,
    and only while the experiment is a draft: moving a margin once results are in would pick the verdict."""
    chosen = {}
    for metric, value in margins.items():
        if value is None:
            continue
        if value not in dict(margin_choices(metric)):
            raise ExperimentError(f"Pick one of the offered margins for {metric}.", field=f"margin_{metric}")
        chosen[metric] = value
    if chosen == (experiment.guardrail_margins or {}):
        return experiment
    if experiment.status != Experiment.Status.DRAFT:
        raise ExperimentError(
            "Guardrail margins can only change while the experiment is a draft.", field="status", code="frozen"
        )
    experiment.guardrail_margins = chosen
    experiment.save(update_fields=["guardrail_margins"])
    return experiment
