"""The production section: outcome events compared with an always-valid sequential test.

Production data arrive continuously and people look at the page every day; a fixed-sample test
checked at every look finds false winners far more often than 5% of the time. The mSPRT's p-values
stay valid however often one looks. Rates also show the Bayesian chance to beat the control.
"""

from __future__ import annotations

import math

from promptlib.analysis import aggregates as agg
from promptlib.analysis.compare import adjust_and_mark, clean, metric_info, metric_role, ordered_rows, section_verdict
from promptlib.analysis.results import Cell, Guidance, MetricRow, Section, Series, VariantInfo
from promptlib.experiments.models import Experiment
from promptlib.stats import (
    StatsInputError,
    bayesian_rates,
    mean_estimate,
    more_needed,
    rate_estimate,
    sample_size_two_means,
    sample_size_two_proportions,
    sequential_means,
    sequential_rates,
)
from promptlib.stats.intervals import mean_and_variance

METHOD = (
    "Production: outcomes reported by your application, compared with a sequential test (mSPRT) whose "
    "p-values stay valid however often you look at this page; for rates, the chance to beat the control "
    "is the Bayesian probability that the variant's true rate is higher."
)


def _planned_n(experiment: Experiment, sums: dict[str, agg.OutcomeSums], control: VariantInfo) -> int | None:
    """Per-variant sample size that detects the minimum effect on the primary metric (80% power)."""
    s = sums.get(control.key)
    effect = experiment.minimum_effect or 0.05
    try:
        if s is None or s.is_rate:
            baseline = s.total / s.n if s else 0.5
            signed = effect if baseline + effect <= 1 else -effect
            return sample_size_two_proportions(baseline=baseline, minimum_effect=signed)
        _, variance = mean_and_variance(n=s.n, total=s.total, total_sq=s.total_sq)
        if not math.isfinite(float(variance)) or variance <= 0:
            return None
        return sample_size_two_means(sd=math.sqrt(float(variance)), minimum_effect=effect)
    except StatsInputError:
        return None


def _cells(variants: list[VariantInfo], sums: dict[str, agg.OutcomeSums], planned_n: int) -> list[Cell]:
    control = next(v for v in variants if v.is_control)
    c = sums.get(control.key)
    is_rate = all(s.is_rate for s in sums.values())
    chances = None
    if is_rate and c is not None and len(sums) >= 2:
        arms = [(sums[v.key].n, round(sums[v.key].total)) if v.key in sums else (0, 0) for v in variants]
        index = next(i for i, v in enumerate(variants) if v.is_control)
        chances = bayesian_rates(arms=arms, control_index=index).chance_to_beat_control
    cells = []
    for i, variant in enumerate(variants):
        s = sums.get(variant.key)
        if s is None:
            cells.append(Cell(variant=variant.key, value=None))
            continue
        e = (
            rate_estimate(n=s.n, successes=round(s.total))
            if is_rate
            else mean_estimate(n=s.n, total=s.total, total_sq=s.total_sq)
        )
        fields = {"variant": variant.key, "value": clean(e.value), "low": clean(e.low), "high": clean(e.high), "n": s.n}
        if not variant.is_control and c is not None:
            if is_rate:
                comparison = sequential_rates(
                    control_n=c.n, control_successes=round(c.total), variant_n=s.n, variant_successes=round(s.total),
                    planned_n=planned_n,
                )  # fmt: skip
            else:
                comparison = sequential_means(
                    control_n=c.n, control_total=c.total, control_total_sq=c.total_sq,
                    variant_n=s.n, variant_total=s.total, variant_total_sq=s.total_sq, planned_n=planned_n,
                )  # fmt: skip
            fields.update(
                difference=clean(comparison.difference), difference_low=clean(comparison.low),
                difference_high=clean(comparison.high), p_value=clean(comparison.p_value),
                chance_to_beat_control=chances[i] if chances else None, test="mSPRT", method=comparison.method,
            )  # fmt: skip
        cells.append(Cell(**fields))
    return cells


def _series(variants: list[VariantInfo], days: list[tuple], rates: dict[str, bool]) -> list[Series]:
    key_of = {v.id: v.key for v in variants}
    x = sorted({day for day, *_ in days})
    position = {day: i for i, day in enumerate(x)}
    metrics: dict[str, dict[str, list]] = {}
    for day, vid, metric, n, total in days:
        if vid not in key_of:
            continue
        values = metrics.setdefault(metric, {v.key: [None] * len(x) for v in variants})
        values[key_of[vid]][position[day]] = total / n if n else None
    labels = [f"{day:%d %b}" for day in x]
    return [
        Series(name, metric_info(name, is_rate=rates.get(name, False)).label, rates.get(name, False), labels, values)
        for name, values in metrics.items()
    ]


def production_section(*, experiment: Experiment, variants: list[VariantInfo]) -> Section:
    raw = agg.outcome_sums(experiment_id=experiment.pk)
    key_of = {v.id: v.key for v in variants}
    by_metric: dict[str, dict[str, agg.OutcomeSums]] = {}
    for (vid, metric), sums in raw.items():
        if vid in key_of:
            by_metric.setdefault(metric, {})[key_of[vid]] = sums
    control = next(v for v in variants if v.is_control)
    primary = experiment.primary_metric
    planned = _planned_n(experiment, by_metric.get(primary, {}), control)
    rows, adjusted_any, rates = [], False, {}
    for metric in sorted(by_metric):
        sums = by_metric[metric]
        rates[metric] = all(s.is_rate for s in sums.values())
        info = metric_info(metric, is_rate=rates[metric])
        cells = _cells(variants, sums, planned or 1_000)
        cells, adjusted = adjust_and_mark(cells, higher_is_better=info.higher_is_better)
        adjusted_any |= adjusted
        role = metric_role(metric, primary=primary, guardrails=experiment.guardrail_metrics)
        rows.append(MetricRow(metric, info.label, info.unit, rates[metric], info.higher_is_better, role, cells))
    rows = ordered_rows(rows)
    sample_sizes = {v.key: by_metric.get(primary, {}).get(v.key, agg.OutcomeSums(0, 0, 0, 0)).n for v in variants}
    verdict = section_verdict(
        rows=rows, variants=variants, sample_sizes=sample_sizes, primary_metric=primary,
        guardrails=experiment.guardrail_metrics, where="production",
    )  # fmt: skip
    guidance = None
    if planned and primary in by_metric:
        current = min(sample_sizes.values())
        more = more_needed(required=planned, current=current)
        guidance = Guidance(
            required=planned,
            current=current,
            more_needed=more,
            text=f"About {planned:,} outcomes per variant detect the minimum effect (80% power); the smallest "
            f"variant has {current:,}. " + (f"About {more:,} more are needed." if more else "That is enough."),
        )
    return Section(
        kind="production",
        title="Production",
        method=METHOD,
        unit_name="outcomes",
        sample_sizes=sample_sizes,
        rows=rows,
        verdict=verdict,
        guidance=guidance,
        series=_series(variants, agg.outcome_days(experiment_id=experiment.pk), rates),
        has_data=bool(by_metric),
        adjusted=adjusted_any,
    )
