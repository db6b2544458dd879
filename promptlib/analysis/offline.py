"""The offline section: batch results compared with paired tests, case by case.

Every variant answers the same cases, so each challenger is compared with the control on the same
cases: McNemar's test on pass/fail per case, or — with repeats, where per-case success shares are no
longer 0/1 — the Wilcoxon signed-rank test on per-case differences, as for numeric metrics.
"""

from __future__ import annotations

import math

import numpy as np

from promptlib.analysis import aggregates as agg
from promptlib.analysis.compare import (
    adjust_and_mark,
    clean,
    metric_role,
    ordered_rows,
    section_verdict,
)
from promptlib.analysis.results import Cell, Guidance, MetricRow, Section, Series, VariantInfo
from promptlib.batches.models import Batch
from promptlib.batches.sums import CASE_NAMES, SUM_NAMES, Z95, call_sums, latency_percentiles
from promptlib.experiments.metrics import METRICS, metrics_from_aggregates
from promptlib.experiments.models import Experiment
from promptlib.stats import (
    PairedComparison,
    StatsInputError,
    discordant_counts,
    mean_estimate,
    median_estimate,
    more_needed,
    paired_numeric,
    paired_pass_fail,
    rate_estimate,
    sample_size_paired_means,
    sample_size_paired_rates,
    wilcoxon,
)

METHOD = (
    "Offline batches: every variant answers the same test cases, so each challenger is compared with the "
    "control case by case (paired tests): McNemar's test for pass/fail results, the Wilcoxon signed-rank "
    "test for numbers and for success shares when cases were repeated."
)
COL = {name: i for i, name in enumerate(SUM_NAMES)}
# Metrics whose difference interval comes from the per-case differences (means of calls and rates).
BOOTSTRAP_BELOW = 500
PER_CASE_DIFFERENCE = {"task_success_rate", "schema_pass_rate", "retry_rate", "input_tokens", "output_tokens"}


def _totals(sums: np.ndarray) -> dict[str, float]:
    return {name: float(sums[i]) for name, i in COL.items()}


def _case_values(m: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-case metric values, [variant, case]; nan where a case has no value for a variant."""
    with np.errstate(divide="ignore", invalid="ignore"):
        n = m["calls"]
        latency = np.where(m["latency_n"] > 0, m["latency_sum"] / m["latency_n"], np.nan)
        return {
            "task_success_rate": np.where(m["verdicts"] > 0, m["successes"] / n, np.nan),
            "schema_pass_rate": np.where(m["schema_checked"] > 0, m["schema_passes"] / m["schema_checked"], np.nan),
            "retry_rate": m["attempts_sum"] / n - 1,
            "latency_p50_ms": latency,
            "latency_p95_ms": latency,
            # Per call: a case without a success has no cost per success.
            "cost_per_success_usd": (m["cost_sum"] + m["judge_cost_sum"]) / n,
            "input_tokens": m["input_tokens_sum"] / n,
            "output_tokens": m["output_tokens_sum"] / n,
            "consistency": np.where(n >= 2, (m["successes"] == n).astype(float), np.nan),
        }


CASE_COL = {name: i for i, name in enumerate(CASE_NAMES)}


def _case_matrix(ids: np.ndarray, sums: np.ndarray, variant_ids: list[int]):
    """{sum name: [variant, case] array} with nan where the variant did not run the case."""
    cases = np.unique(ids[:, 0])
    matrix = np.full((len(variant_ids), cases.size, sums.shape[1]), np.nan)
    position = {vid: i for i, vid in enumerate(variant_ids)}
    rows = np.array([position.get(int(v), -1) for v in ids[:, 1]], dtype=int)
    keep = rows >= 0
    matrix[rows[keep], np.searchsorted(cases, ids[keep, 0])] = sums[keep]
    return {name: matrix[:, :, i] for name, i in CASE_COL.items()}


def _estimate(metric: str, t: dict, values: dict, pct, reviews) -> tuple[float | None, float | None, float | None, int]:
    """(value, low, high, n) of one variant on one metric."""
    calls = int(t["calls"])
    try:
        if metric == "task_success_rate" and t["verdicts"]:
            e = rate_estimate(n=calls, successes=int(t["successes"]))
        elif metric == "schema_pass_rate" and t["schema_checked"]:
            e = rate_estimate(n=int(t["schema_checked"]), successes=int(t["schema_passes"]))
        elif metric == "retry_rate" and calls:
            sq = t["attempts_sq"] - 2 * t["attempts_sum"] + calls  # Σ (attempts - 1)²
            e = mean_estimate(n=calls, total=t["attempts_sum"] - calls, total_sq=sq)
        elif metric in ("input_tokens", "output_tokens") and calls:
            e = mean_estimate(n=calls, total=t[f"{metric}_sum"], total_sq=t[f"{metric}_sq"])
        elif metric in ("latency_p50_ms", "latency_p95_ms") and pct is not None:
            q = "p50" if metric == "latency_p50_ms" else "p95"
            return getattr(pct, q), getattr(pct, f"{q}_low"), getattr(pct, f"{q}_high"), pct.n
        elif metric == "cost_per_success_usd" and t["successes"]:
            return (*_cost_per_success(t), calls)
        elif metric == "consistency" and t["repeated_cases"]:
            e = rate_estimate(n=int(t["repeated_cases"]), successes=int(t["consistent_cases"]))
        elif metric == "review_edit_share" and reviews and reviews.edit_known:
            e = rate_estimate(n=reviews.edit_known, successes=reviews.edits)
        elif metric == "review_seconds_median" and reviews and reviews.seconds:
            e = median_estimate(reviews.seconds)
        else:
            return clean(values.get(metric)), None, None, 0
    except StatsInputError:
        return clean(values.get(metric)), None, None, 0
    return clean(e.value), clean(e.low), clean(e.high), e.n


def _cost_per_success(t: dict) -> tuple[float, float | None, float | None]:
    """Σ cost ÷ Σ successes with a delta-method interval for a ratio of means."""
    n, successes = t["calls"], t["successes"]
    total = t["cost_sum"] + t["judge_cost_sum"]
    ratio = total / successes
    if n < 2:
        return ratio, None, None
    mean_y = successes / n
    var_x = max(0.0, (t["cost_sq"] - total * total / n) / (n - 1))
    var_y = max(0.0, (successes - successes * successes / n) / (n - 1))
    cov = (t["cost_ok_sum"] - total * successes / n) / (n - 1)
    variance = max(0.0, (var_x - 2 * ratio * cov + ratio * ratio * var_y) / (n * mean_y * mean_y))
    half = Z95 * math.sqrt(variance)
    return ratio, max(0.0, ratio - half), ratio + half


def _compare(metric: str, control: np.ndarray, challenger: np.ndarray):
    both = np.isfinite(control) & np.isfinite(challenger)
    if not both.any():
        return None, 0
    c, v = control[both], challenger[both]
    if METRICS[metric].kind == "rate" and np.isin(c, (0, 1)).all() and np.isin(v, (0, 1)).all():
        b, c_, n = discordant_counts(control=c, challenger=v)
        return paired_pass_fail(b=b, c=c_, n=n), n
    return _paired_numeric(v - c), int(both.sum())


def _paired_numeric(d: np.ndarray) -> PairedComparison:
    """Wilcoxon with a bootstrap interval; on many cases a t interval (the same by the central limit
    theorem, and 2,000 resamples of thousands of cases would cost most of the page's time)."""
    if d.size < BOOTSTRAP_BELOW:
        return paired_numeric(d)
    statistic, p_value, method = wilcoxon(d)
    e = mean_estimate(n=int(d.size), total=float(d.sum()), total_sq=float(np.dot(d, d)))
    return PairedComparison(
        difference=e.value, low=e.low, high=e.high, p_value=p_value, statistic=statistic,
        test="Wilcoxon signed-rank test", method=f"{method}; t interval of the mean difference", n=int(d.size),
    )  # fmt: skip


def _cells(metric, variants, estimates, case_values) -> list[Cell]:
    control_i = next(i for i, v in enumerate(variants) if v.is_control)
    control_value = estimates[control_i][0]
    cells = []
    for i, variant in enumerate(variants):
        value, low, high, n = estimates[i]
        cell = Cell(variant=variant.key, value=value, low=low, high=high, n=n)
        if i != control_i and value is not None and control_value is not None and metric in case_values:
            comparison, _ = _compare(metric, case_values[metric][control_i], case_values[metric][i])
            if comparison is not None:
                per_case = metric in PER_CASE_DIFFERENCE
                cell = Cell(
                    variant=variant.key, value=value, low=low, high=high, n=n,
                    difference=value - control_value,
                    difference_low=clean(comparison.low) if per_case else None,
                    difference_high=clean(comparison.high) if per_case else None,
                    p_value=clean(comparison.p_value), test=comparison.test, method=comparison.method,
                )  # fmt: skip
        cells.append(cell)
    return cells


def _guidance(experiment: Experiment, variants, case_values, sample_sizes) -> Guidance | None:
    metric = experiment.primary_metric
    if metric not in case_values or not sample_sizes:
        return None
    control_i = next(i for i, v in enumerate(variants) if v.is_control)
    control = case_values[metric][control_i]
    effect = experiment.minimum_effect or 0.05
    required = 0
    for i in range(len(variants)):
        if i == control_i:
            continue
        both = np.isfinite(control) & np.isfinite(case_values[metric][i])
        d = case_values[metric][i][both] - control[both]
        try:
            if METRICS[metric].kind == "rate":
                baseline = float(np.mean(control[both])) if both.any() else 0.5
                signed = effect if baseline + effect <= 1 else -effect
                share = float(np.mean(d != 0)) if both.any() else None
                needed = sample_size_paired_rates(baseline=baseline, minimum_effect=signed, discordant_share=share)
            elif d.size > 1 and np.std(d, ddof=1) > 0:
                needed = sample_size_paired_means(sd_difference=float(np.std(d, ddof=1)), minimum_effect=effect)
            else:
                continue
        except StatsInputError:
            continue
        required = max(required, needed)
    if not required:
        return None
    current = min(sample_sizes.values())
    more = more_needed(required=required, current=current)
    size = f"{effect:.0%}".replace("%", " points") if METRICS[metric].kind == "rate" else f"{effect:g}"
    text = (
        f"About {required:,} cases per variant detect a change of {size} in {METRICS[metric].label.lower()} "
        f"(80% power); there are {current:,}. " + (f"Add about {more:,} more cases." if more else "That is enough.")
    )
    return Guidance(required=required, current=current, more_needed=more, text=text)


def _series(experiment: Experiment, variants, batch_ids, sums, per_batch_pct) -> list[Series]:
    batches = list(
        Batch.objects.filter(pk__in={int(b) for b in batch_ids[:, 0]})
        .order_by("created_at")
        .values_list("pk", "created_at", "schedule_id")
    )
    if not batches:
        return []
    position = {bid: i for i, (bid, _, _) in enumerate(batches)}
    by_key: dict[str, list[dict | None]] = {v.key: [None] * len(batches) for v in variants}
    key_of = {v.id: v.key for v in variants}
    for (bid, vid), row in zip(batch_ids.tolist(), sums, strict=True):
        if vid not in key_of:
            continue
        t = _totals(row)
        p50, p95 = per_batch_pct.get((bid, vid), (None, None))
        aggregates = {**t, "latency_p50": p50, "latency_p95": p95, "review_seconds_p50": None,
                      "edit_known": 0, "edits": 0, "repeated_cases": 0, "consistent_cases": 0}  # fmt: skip
        by_key[key_of[vid]][position[bid]] = metrics_from_aggregates(aggregates)
    x = [f"Run {bid}{' (scheduled)' if schedule else ''} · {created:%d %b %H:%M}" for bid, created, schedule in batches]
    series = []
    for name, info in METRICS.items():
        values = {key: [clean(m.get(name)) if m else None for m in points] for key, points in by_key.items()}
        if any(v is not None for points in values.values() for v in points):
            series.append(Series(name, info.label, info.kind == "rate", x, values))
    return series


def offline_section(*, experiment: Experiment, variants: list[VariantInfo], rollups: bool = True) -> Section:
    """rollups=False: from every item rather than from the finished batches' rollups (the same numbers)."""
    variant_ids = [v.id for v in variants]
    sources = agg.batch_sources(experiment_id=experiment.pk, rollups=rollups)
    sums = call_sums(sources=sources)
    batch_ids, batch_sums, case_ids, case_sums = sums.batch_ids, sums.batch_sums, sums.case_ids, sums.case_sums
    percentiles, per_batch_pct = latency_percentiles(sources=sources)
    reviews = agg.review_sums(experiment_id=experiment.pk)
    matrix = _case_matrix(case_ids, case_sums, variant_ids) if case_ids.size else None
    case_values = _case_values(matrix) if matrix is not None else {}

    estimates: dict[str, list] = {name: [] for name in METRICS}
    sample_sizes: dict[str, int] = {}
    for i, variant in enumerate(variants):
        t = (
            _totals(batch_sums[batch_ids[:, 1] == variant.id].sum(axis=0))
            if batch_ids.size
            else _totals(np.zeros(len(COL)))
        )
        if matrix is not None:
            n = matrix["calls"][i]
            t["repeated_cases"] = float(np.sum(n >= 2))
            t["consistent_cases"] = float(np.sum((n >= 2) & (matrix["successes"][i] == n)))
        else:
            t["repeated_cases"] = t["consistent_cases"] = 0.0
        review = reviews.get(variant.id)
        values = metrics_from_aggregates({
            **t, "latency_p50": getattr(percentiles.get(variant.id), "p50", None),
            "latency_p95": getattr(percentiles.get(variant.id), "p95", None),
            "review_seconds_p50": float(np.median(review.seconds)) if review and review.seconds else None,
            "edit_known": review.edit_known if review else 0, "edits": review.edits if review else 0,
        })  # fmt: skip
        for name in METRICS:
            estimates[name].append(_estimate(name, t, values, percentiles.get(variant.id), review))
        primary = case_values.get(experiment.primary_metric)
        sample_sizes[variant.key] = int(np.isfinite(primary[i]).sum()) if primary is not None else 0

    rows, adjusted_any = [], False
    for name, info in METRICS.items():
        if all(e[0] is None for e in estimates[name]):
            continue
        cells, adjusted = adjust_and_mark(
            _cells(name, variants, estimates[name], case_values), higher_is_better=info.higher_is_better
        )
        adjusted_any |= adjusted
        role = metric_role(name, primary=experiment.primary_metric, guardrails=experiment.guardrail_metrics)
        rows.append(MetricRow(name, info.label, info.unit, info.kind == "rate", info.higher_is_better, role, cells))
    rows = ordered_rows(rows)
    has_data = bool(batch_ids.size)
    verdict = section_verdict(
        rows=rows, variants=variants, sample_sizes=sample_sizes, primary_metric=experiment.primary_metric,
        guardrails=experiment.guardrail_metrics, where="offline batch",
    )  # fmt: skip
    return Section(
        kind="offline",
        title="Offline batches",
        method=METHOD,
        unit_name="cases",
        sample_sizes=sample_sizes,
        rows=rows,
        verdict=verdict,
        guidance=_guidance(experiment, variants, case_values, sample_sizes) if has_data else None,
        series=_series(experiment, variants, batch_ids, batch_sums, per_batch_pct) if has_data else [],
        has_data=has_data,
        adjusted=adjusted_any,
        left_out=_left_out(experiment),
    )


def _left_out(experiment: Experiment) -> str:
    # A cancelled batch stopped part-way through its cases; counting it would weigh some cases twice.
    cancelled = agg.cancelled_with_results(experiment_id=experiment.pk)
    if not cancelled:
        return ""
    batches = "batch is" if cancelled == 1 else "batches are"
    return (
        f"{cancelled} cancelled {batches} left out: a cancelled batch stopped part-way, so its results are not counted."
    )
