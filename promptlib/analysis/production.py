"""The production section: outcome events compared per subject with an always-valid sequential test.

Subjects (end users) are what is randomised, so every number is counted in subjects: events are
summed per subject in SQL and each metric is the mean per event with its noise measured across
subjects (delta method, promptlib.stats.ratio). People look at the page every day, so the mSPRT's
p-values, valid however often one looks, decide. Exposures (renders per variant) feed a
sample-ratio-mismatch check that blocks any winner when subjects were not split as the weights say.
"""

from __future__ import annotations

import math

from promptlib.analysis import aggregates as agg
from promptlib.analysis.compare import (
    adjust_and_mark,
    clean,
    guardrail_holm,
    metric_info,
    metric_role,
    ordered_rows,
    section_verdict,
)
from promptlib.analysis.results import Cell, Exposure, Guidance, MetricRow, SampleRatio, Section, Series, VariantInfo
from promptlib.experiments.exposures import exposure_totals
from promptlib.experiments.margins import Margin, guardrail_margin
from promptlib.experiments.metrics import MetricInfo, direction_words
from promptlib.experiments.models import Experiment
from promptlib.experiments.selectors import application_metrics_registered
from promptlib.stats import (
    MarginTest,
    StatsInputError,
    Verdict,
    VerdictState,
    margin_ratios,
    more_needed,
    sample_size_sequential,
)
from promptlib.stats.ratio import (
    SubjectSums,
    chance_better,
    ratio_estimate,
    ratio_moments,
    sequential_ratios,
)
from promptlib.stats.srm import HLL_RELATIVE_ERROR, SRM_ALPHA, srm_check

METHOD = (
    "Production: outcomes reported by your application, counted per user (several events of one user "
    "count as one user), compared with a sequential test (mSPRT) whose p-values stay valid however often "
    "you look at this page. The chance to beat the control is the probability that the variant is truly better. "
    "A guardrail passes only when the same test shows the variant within its margin of the control."
)
# Experiment.minimum_effect's default: 5 points, which only means something for a rate.
DEFAULT_RATE_EFFECT = 0.05


def minimum_effect_for(*, experiment: Experiment, is_rate: bool, registered_effect: float | None) -> float | None:
    """The smallest difference worth detecting on the primary metric, in its own units.

    For a rate the experiment's setting (0.05 = 5 points). For a number, 0.05 of its units is
    meaningless (0.05 USD, 0.05 items): the experiment's own value when someone changed it, else the
    metric's registered minimum effect, else none — and then no planned sample is claimed.
    """
    if is_rate:
        return experiment.minimum_effect or DEFAULT_RATE_EFFECT
    if experiment.minimum_effect and experiment.minimum_effect != DEFAULT_RATE_EFFECT:
        return experiment.minimum_effect
    return registered_effect or None


def _planned_n(control: agg.OutcomeSums | None, *, effect: float | None, is_rate: bool) -> int | None:
    """Users per variant at which the sequential test detects the minimum effect with 80% power.

    Sized for the mSPRT that decides (promptlib.stats.power.sample_size_sequential, the one rule both
    sections use), with the spread of the per-user metric taken as the same in both arms; before two
    users a rate assumes the control's rate so far (or 50%).
    """
    if not effect:
        return None
    sd = None
    if control is not None and control.n >= 2:
        _, linear, _ = (float(v) for v in ratio_moments(control.sums))
        sd = math.sqrt(linear) if math.isfinite(linear) and linear > 0 else None
    if sd is None and is_rate:
        baseline = float(ratio_moments(control.sums)[0]) if control is not None and control.events else 0.5
        sd = math.sqrt(baseline * (1 - baseline)) or None
    if sd is None:
        return None
    try:
        return sample_size_sequential(variance=2 * sd * sd, minimum_effect=effect)
    except StatsInputError:
        return None


def _within(control: SubjectSums, variant: SubjectSums, *, margin: Margin, info: MetricInfo, planned_n: int):
    """The guardrail's margin test, per user and always valid like the metric's own test. With no declared
    direction either way counts as harm: shown safe only when within the margin both ways."""
    directions = [info.higher_is_better] if info.higher_is_better is not None else [True, False]
    tests = [
        margin_ratios(
            control=control,
            variant=variant,
            margin=margin.value,
            relative=margin.relative,
            higher_is_better=direction,
            planned_n=planned_n,
        )
        for direction in directions
    ]
    return MarginTest(p_safe=max(t.p_safe for t in tests), p_harm=min(t.p_harm for t in tests))


def _cells(
    variants: list[VariantInfo],
    sums: dict[str, agg.OutcomeSums],
    *,
    is_rate: bool,
    info: MetricInfo,
    planned_n: int,
    margin: Margin | None,
) -> list[Cell]:
    control = next(v for v in variants if v.is_control)
    c = sums.get(control.key)
    cells = []
    for variant in variants:
        s = sums.get(variant.key)
        if s is None or s.n == 0:
            cells.append(Cell(variant=variant.key, value=None))
            continue
        e = ratio_estimate(s.sums, is_rate=is_rate)
        fields = {"variant": variant.key, "value": clean(e.value), "low": clean(e.low), "high": clean(e.high), "n": s.n}
        if not variant.is_control and c is not None and c.n:
            comparison = sequential_ratios(control=c.sums, variant=s.sums, planned_n=planned_n)
            variance = float(ratio_moments(c.sums)[2] + ratio_moments(s.sums)[2])
            chance = None
            if info.higher_is_better is not None:
                chance = chance_better(
                    difference=comparison.difference, variance=variance, higher_is_better=info.higher_is_better
                )
            fields.update(
                difference=clean(comparison.difference), difference_low=clean(comparison.low),
                difference_high=clean(comparison.high), p_value=clean(comparison.p_value),
                chance_to_beat_control=chance, test="mSPRT per user", method=comparison.method,
            )  # fmt: skip
            if margin is not None:
                within = _within(c.sums, s.sums, margin=margin, info=info, planned_n=planned_n)
                fields.update(p_safe=within.p_safe, p_harm=within.p_harm, margin=margin.text)
        cells.append(Cell(**fields))
    return cells


def _series(variants: list[VariantInfo], days: list[tuple], infos: dict[str, MetricInfo]) -> list[Series]:
    key_of = {v.id: v.key for v in variants}
    x = sorted({day for day, *_ in days})
    position = {day: i for i, day in enumerate(x)}
    metrics: dict[str, dict[str, list]] = {}
    for day, vid, metric, n, total in days:
        if vid not in key_of or metric not in infos:
            continue
        values = metrics.setdefault(metric, {v.key: [None] * len(x) for v in variants})
        values[key_of[vid]][position[day]] = total / n if n else None
    labels = [f"{day:%d %b}" for day in x]
    return [
        Series(
            name,
            f"{infos[name].label} ({direction_words(infos[name].higher_is_better)})",
            infos[name].kind == "rate",
            labels,
            values,
        )
        for name, values in metrics.items()
    ]


def _exposures(experiment: Experiment, variants: list[VariantInfo]) -> tuple[dict[str, Exposure], SampleRatio | None]:
    totals = exposure_totals(experiment_id=experiment.pk)
    exposures = {v.key: Exposure(*totals[v.id]) for v in variants if v.id in totals}
    weights = dict(experiment.variants.values_list("key", "weight"))
    if len(exposures) < 1 or not any(e.subjects for e in exposures.values()):
        return exposures, None
    keys = [v.key for v in variants]
    observed = [exposures[k].subjects if k in exposures else 0 for k in keys]
    exact = all(e.exact for e in exposures.values())
    check = srm_check(
        observed=observed, weights=[weights[k] for k in keys], relative_error=0.0 if exact else HLL_RELATIVE_ERROR
    )
    shares = ", ".join(f"{k} {o:,} (expected {e:,.0f})" for k, o, e in zip(keys, observed, check.expected, strict=True))
    if check.failed:
        text = (
            f"Users were not split as planned: {shares}; a split this uneven happens by chance less than once in "
            f"{round(1 / SRM_ALPHA):,} experiments (p = {check.p_value:.1g}). Something loses or adds users in one "
            "variant, so no winner is named until the cause is found."
        )
    else:
        text = f"Users were split as planned: {shares} (sample-ratio check, p = {check.p_value:.2f})."
    sample_ratio = SampleRatio(
        dict(zip(keys, observed, strict=True)),
        dict(zip(keys, check.expected, strict=True)),
        check.p_value,
        check.failed,
        text,
    )
    return exposures, sample_ratio


def production_section(*, experiment: Experiment, variants: list[VariantInfo]) -> Section:
    raw = agg.outcome_sums(experiment_id=experiment.pk)
    registered = application_metrics_registered(project_id=experiment.project_id)
    key_of = {v.id: v.key for v in variants}
    by_metric: dict[str, dict[str, agg.OutcomeSums]] = {}
    for (vid, metric), sums in raw.items():
        if vid in key_of:
            by_metric.setdefault(metric, {})[key_of[vid]] = sums
    control = next(v for v in variants if v.is_control)
    primary = experiment.primary_metric
    infos = {
        m: metric_info(
            m, is_rate=all(s.is_rate for s in sums.values()), registered={k: i for k, (i, _) in registered.items()}
        )
        for m, sums in by_metric.items()
    }
    primary_rate = infos[primary].kind == "rate" if primary in infos else True
    effect = minimum_effect_for(
        experiment=experiment, is_rate=primary_rate, registered_effect=registered.get(primary, (None, None))[1]
    )
    planned = _planned_n(by_metric.get(primary, {}).get(control.key), effect=effect, is_rate=primary_rate)
    cells_by_metric, adjusted_any = {}, False
    for metric in sorted(by_metric):
        info, is_rate = infos[metric], all(s.is_rate for s in by_metric[metric].values())
        # Guardrails pass only when shown within their margin (non-inferiority), as offline.
        margin = (
            guardrail_margin(experiment=experiment, metric=metric) if metric in experiment.guardrail_metrics else None
        )
        cells = _cells(
            variants, by_metric[metric], is_rate=is_rate, info=info, planned_n=planned or 1_000, margin=margin
        )
        cells_by_metric[metric], adjusted = adjust_and_mark(cells, higher_is_better=info.higher_is_better)
        adjusted_any |= adjusted
    # Holm across each challenger's guardrails, so five guardrails do not block true winners at random.
    cells_by_metric = guardrail_holm(cells_by_metric)
    rows = []
    for metric, cells in cells_by_metric.items():
        info, is_rate = infos[metric], all(s.is_rate for s in by_metric[metric].values())
        role = metric_role(metric, primary=primary, guardrails=experiment.guardrail_metrics)
        rows.append(MetricRow(metric, info.label, info.unit, is_rate, info.higher_is_better, role, cells))
    rows = ordered_rows(rows)
    sample_sizes = {v.key: by_metric.get(primary, {}).get(v.key, _NONE).n for v in variants}
    verdict = section_verdict(
        rows=rows, variants=variants, sample_sizes=sample_sizes, primary_metric=primary,
        guardrails=experiment.guardrail_metrics, where="production",
    )  # fmt: skip
    exposures, sample_ratio = _exposures(experiment, variants)
    if sample_ratio is not None and sample_ratio.failed and verdict.state != VerdictState.COLLECTING_DATA:
        verdict = Verdict(state=VerdictState.SAMPLE_RATIO_MISMATCH, reason=sample_ratio.text)
    current = min(sample_sizes.values()) if sample_sizes else 0
    guidance = _guidance(planned=planned, current=current, has_primary=primary in by_metric, info=infos.get(primary))
    return Section(
        kind="production",
        title="Production",
        method=METHOD,
        unit_name="users",
        sample_sizes=sample_sizes,
        rows=rows,
        verdict=verdict,
        guidance=guidance,
        series=_series(variants, agg.outcome_days(experiment_id=experiment.pk), infos),
        has_data=bool(by_metric),
        adjusted=adjusted_any,
        planned_n=planned,
        planned_reached=bool(planned) and current >= planned,
        exposures=exposures,
        srm=sample_ratio,
    )


_NONE = agg.OutcomeSums(SubjectSums(0, 0.0, 0.0, 0.0, 0.0, 0.0), 0)


def _guidance(*, planned: int | None, current: int, has_primary: bool, info: MetricInfo | None) -> Guidance | None:
    if not has_primary:
        return None
    if planned is None:
        unit = f" in {info.unit}" if info and info.unit else ""
        return Guidance(
            required=None,
            current=current,
            more_needed=0,
            text=f"Set the smallest difference worth detecting{unit} for this metric (its minimum effect) to know "
            "how many users each variant needs; until then production does not overrule the test batches.",
        )
    more = more_needed(required=planned, current=current)
    return Guidance(
        required=planned,
        current=current,
        more_needed=more,
        text=f"About {planned:,} users per variant detect the minimum effect (80% power, with a test you may "
        f"check every day); the smallest "
        f"variant has {current:,}. "
        + (f"About {more:,} more are needed." if more else "The planned number of users is reached."),
    )
