"""The offline section: batch results compared with paired tests, case by case.

Every variant answers the same cases, so each challenger is compared with the control on the same
cases, and each quantity is tested as it is reported:
  - pass/fail per case (one call per case): McNemar's test with the interval that inverts it (exact
    binomial with Clopper–Pearson below 25 disagreeing cases, Tango's score interval above);
  - success shares per case (repeated cases): the paired t-test on the shares, whose mean difference
    is the difference of the rates shown;
  - numbers (tokens, retries): the Wilcoxon signed-rank test with its Hodges–Lehmann estimate (the
    typical per-case difference), or on 500 cases and more the paired t-test with the mean;
  - latency p50 / p95: the difference of the percentiles by a paired bootstrap over cases;
  - cost per successful answer: the difference of the two ratios by the delta method over cases.
Per-variant intervals treat the case as the unit (repeats of one case are not independent).

Guardrails are non-inferiority tests: a challenger passes one only when shown to stay within the
guardrail's margin (promptlib.experiments.margins), Holm-corrected over its guardrails.

Repeated looks: a batch still running gives provisional numbers and no verdict; each finished batch
is a look at the combined results, tested at alpha spent across runs (promptlib.stats.looks).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from promptlib.analysis import aggregates as agg
from promptlib.analysis.compare import (
    ALPHA,
    adjust_and_mark,
    clean,
    guardrail_holm,
    is_higher_better,
    metric_role,
    ordered_rows,
    section_verdict,
)
from promptlib.analysis.offline_advice import offline_guidance
from promptlib.analysis.offline_tests import (
    QUANTILES,
    case_costs,
    cost_comparison,
    latency_draws,
    margin_test,
    paired_compare,
    quantile_comparison,
)
from promptlib.analysis.results import Cell, MetricRow, Section, Series, VariantInfo
from promptlib.batches.models import Batch
from promptlib.batches.sums import CASE_NAMES, SUM_NAMES, call_sums, latency_percentiles
from promptlib.experiments.margins import Margin, guardrail_margin
from promptlib.experiments.metrics import METRICS, metrics_from_aggregates, review_cost_usd
from promptlib.experiments.models import Experiment
from promptlib.stats import (
    StatsInputError,
    Verdict,
    VerdictState,
    clustered_mean,
    clustered_rate,
    look_alpha,
    median_estimate,
    rate_estimate,
)
from promptlib.stats.quantiles import minimum_cases

METHOD = (
    "Offline batches: every variant answers the same test cases, so each challenger is compared with the "
    "control case by case (paired tests), each figure tested as it is shown: McNemar's test for pass/fail "
    "results, the Wilcoxon signed-rank test (with the typical per-case difference) for numbers, a paired "
    "bootstrap for response-time percentiles and the delta method for cost per successful answer."
)
COL = {name: i for i, name in enumerate(SUM_NAMES)}


def _totals(sums: np.ndarray) -> dict[str, float]:
    return {name: float(sums[i]) for name, i in COL.items()}


def _case_values(m: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-case metric values, [variant, case]; nan where a case has no value for a variant.

    Cost per success has none: a case without a success has no cost per success, so it is compared
    as a ratio of per-case totals (`_cost_comparison`).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        n = m["calls"]
        latency = np.where(m["latency_n"] > 0, m["latency_sum"] / m["latency_n"], np.nan)
        return {
            "task_success_rate": np.where(m["verdicts"] > 0, m["successes"] / m["verdicts"], np.nan),
            "schema_pass_rate": np.where(m["schema_checked"] > 0, m["schema_passes"] / m["schema_checked"], np.nan),
            "retry_rate": m["attempts_sum"] / n - 1,
            "latency_p50_ms": latency,
            "latency_p95_ms": latency,
            "input_tokens": m["input_tokens_sum"] / n,
            "output_tokens": m["output_tokens_sum"] / n,
            "consistency": np.where(n >= 2, (m["successes"] == n).astype(float), np.nan),
            "context_recall": _share(m["context_found_sum"], m["context_expected_sum"]),
            "retrieval_hit_rate": _share(m["grounded_hits"], m["grounded_calls"]),
            "citation_validity": _share(m["citations_valid_sum"], m["citations_made_sum"]),
            "faithfulness_rate": _share(m["faithful_passes"], m["faithful_checked"]),
            "retrieval_ms_mean": _share(m["retrieval_ms_sum"], m["retrieval_n"]),
        }


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """part ÷ whole per case; nan where whole is 0 (nothing to count)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(whole > 0, part / whole, np.nan)


CASE_COL = {name: i for i, name in enumerate(CASE_NAMES)}
# The retrieval metrics: (part, whole) sums of a ratio, estimated with the case as the unit.
_RATIO_SUMS = {
    "context_recall": ("context_found_sum", "context_expected_sum"),
    "retrieval_hit_rate": ("grounded_hits", "grounded_calls"),
    "citation_validity": ("citations_valid_sum", "citations_made_sum"),
    "faithfulness_rate": ("faithful_passes", "faithful_checked"),
    "retrieval_ms_mean": ("retrieval_ms_sum", "retrieval_n"),
}


def _case_matrix(ids: np.ndarray, sums: np.ndarray, variant_ids: list[int]):
    """{sum name: [variant, case] array} with nan where the variant did not run the case."""
    cases = np.unique(ids[:, 0])
    matrix = np.full((len(variant_ids), cases.size, sums.shape[1]), np.nan)
    position = {vid: i for i, vid in enumerate(variant_ids)}
    rows = np.array([position.get(int(v), -1) for v in ids[:, 1]], dtype=int)
    keep = rows >= 0
    matrix[rows[keep], np.searchsorted(cases, ids[keep, 0])] = sums[keep]
    return {name: matrix[:, :, i] for name, i in CASE_COL.items()}


def _add_review_costs(matrix: dict, rows: list[tuple[int, int, float]], variant_ids: list[int], case_ids, hourly):
    """matrix["review_cost_sum"]: what reviewing each (variant, case) cost; 0 where it ran unreviewed."""
    cases = np.unique(case_ids[:, 0])
    costs = np.where(np.isfinite(matrix["calls"]), 0.0, np.nan)
    position = {vid: i for i, vid in enumerate(variant_ids)}
    for case_id, variant_id, seconds in rows:
        at = int(np.searchsorted(cases, case_id))
        if variant_id in position and at < cases.size and cases[at] == case_id:
            costs[position[variant_id], at] += review_cost_usd(seconds=seconds, hourly_usd=hourly)
    matrix["review_cost_sum"] = costs


def _estimate(
    metric: str, t: dict, values: dict, pct, reviews, cases
) -> tuple[float | None, float | None, float | None, int]:
    """(value, low, high, n) of one variant on one metric; n is what the estimate used (cases, when
    the case is the unit: repeats of a case are one case's worth of evidence)."""
    ran = cases is not None and np.isfinite(cases["calls"]) & (np.nan_to_num(cases["calls"]) > 0)

    def per_case(name: str) -> np.ndarray:
        return cases[name][ran]

    try:
        if metric in ("latency_p50_ms", "latency_p95_ms") and pct is not None:
            q = "p50" if metric == "latency_p50_ms" else "p95"
            if pct.n < minimum_cases(QUANTILES[metric]):  # too few calls for a trustworthy interval: none shown
                return getattr(pct, q), None, None, pct.n
            return getattr(pct, q), getattr(pct, f"{q}_low"), getattr(pct, f"{q}_high"), pct.n
        if metric == "review_edit_share" and reviews and reviews.edit_known:
            e = rate_estimate(n=reviews.edit_known, successes=reviews.edits)
        elif metric == "review_seconds_median" and reviews and reviews.seconds:
            e = median_estimate(reviews.seconds)
        elif cases is None or not ran.any():
            return clean(values.get(metric)), None, None, 0
        elif metric == "task_success_rate" and t["verdicts"]:
            judged = per_case("verdicts") > 0  # a case with no verdict yet has no success rate
            e = clustered_rate(successes=per_case("successes")[judged], n=per_case("verdicts")[judged])
        elif metric == "schema_pass_rate" and t["schema_checked"]:
            e = clustered_rate(successes=per_case("schema_passes"), n=per_case("schema_checked"))
        elif metric == "retry_rate":
            e = clustered_mean(y=per_case("attempts_sum") - per_case("calls"), n=per_case("calls"))
        elif metric in ("input_tokens", "output_tokens"):
            e = clustered_mean(y=per_case(f"{metric}_sum"), n=per_case("calls"))
        elif metric == "cost_per_success_usd" and t["successes"]:
            e = clustered_mean(y=case_costs(cases)[ran], n=per_case("successes"))
        elif metric in _RATIO_SUMS and t[_RATIO_SUMS[metric][1]]:
            part, whole = _RATIO_SUMS[metric]
            counted = per_case(whole) > 0  # cases with nothing to count are not cases of this metric
            y, n = per_case(part)[counted], per_case(whole)[counted]
            e = clustered_mean(y=y, n=n) if METRICS[metric].kind == "mean" else clustered_rate(successes=y, n=n)
        elif metric == "consistency" and t["repeated_cases"]:
            e = rate_estimate(n=int(t["repeated_cases"]), successes=int(t["consistent_cases"]))
        else:
            return clean(values.get(metric)), None, None, 0
    except StatsInputError:
        return clean(values.get(metric)), None, None, 0
    low = max(0.0, e.low) if metric == "cost_per_success_usd" else e.low
    return clean(e.value), clean(low), clean(e.high), e.n


def _cells(metric, variants, estimates, case_values, cases, draws, n_draws, margin: Margin | None) -> list[Cell]:
    control_i = next(i for i, v in enumerate(variants) if v.is_control)
    control_value = estimates[control_i][0]
    cells = []
    for i, variant in enumerate(variants):
        value, low, high, n = estimates[i]
        cell = Cell(variant=variant.key, value=value, low=low, high=high, n=n)
        if metric in QUANTILES and i != control_i and n_draws < minimum_cases(QUANTILES[metric]):
            # Say why there is no p-value: a percentile's bootstrap is unreliable on fewer cases.
            cell = replace(cell, test=f"not tested: needs {minimum_cases(QUANTILES[metric])} cases")
        if i == control_i or value is None or control_value is None:
            cells.append(cell)
            continue
        if metric in QUANTILES:
            comparison = quantile_comparison(metric, draws, n_draws, control_i, i)
        elif metric == "cost_per_success_usd":
            comparison = cost_comparison(cases, control_i, i)[0] if cases is not None else None
        elif metric in case_values:
            comparison = paired_compare(metric, case_values[metric][control_i], case_values[metric][i])
        else:
            comparison = None
        within = None
        if margin is not None and cases is not None:
            within = margin_test(
                metric, margin, case_values=case_values, cases=cases, draws=draws, n_draws=n_draws,
                control_i=control_i, i=i,
            )  # fmt: skip
        if comparison is not None:
            cell = Cell(
                variant=variant.key, value=value, low=low, high=high, n=n,
                difference=clean(comparison.difference),
                difference_low=clean(comparison.low), difference_high=clean(comparison.high),
                p_value=clean(comparison.p_value), test=comparison.test, method=comparison.method,
            )  # fmt: skip
        if within is not None:
            cell = replace(cell, p_safe=within.p_safe, p_harm=within.p_harm, margin=margin.text)
        cells.append(cell)
    return cells


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


def offline_alpha(*, runs: int, provisional: bool) -> float | None:
    """The p-value a winner needs now: None while a batch runs (its numbers are provisional), else the
    share of the 5% error budget of run `runs` (the first finished batch is run 1)."""
    if provisional:
        return None
    return look_alpha(alpha=ALPHA, look=max(1, runs))


def _looks_note(*, runs: int, alpha: float, provisional: bool) -> str:
    first = ", ".join(f"{look_alpha(alpha=ALPHA, look=k):.2g}" for k in (1, 2, 3))
    note = (
        "Each finished batch run is a look at all results so far. So that re-running batches cannot produce a "
        f"winner by chance, the 5% risk of a false winner is shared out over the runs: a winner needs p below "
        f"{first}… at runs 1, 2, 3…"
    )
    if runs:
        note += f" This is run {runs}: a winner needs p below {alpha:.2g}."
    if provisional:
        note += " A batch still running is not a look: its numbers are provisional and no winner is drawn from them."
    return note


def offline_section(*, experiment: Experiment, variants: list[VariantInfo], rollups: bool = True) -> Section:
    """rollups=False: from every item rather than from the finished batches' rollups (the same numbers)."""
    variant_ids = [v.id for v in variants]
    sources = agg.batch_sources(experiment_id=experiment.pk, rollups=rollups)
    sums = call_sums(sources=sources)
    batch_ids, batch_sums, case_ids, case_sums = sums.batch_ids, sums.batch_sums, sums.case_ids, sums.case_sums
    percentiles, per_batch_pct = latency_percentiles(sources=sources)
    reviews = agg.review_sums(experiment_id=experiment.pk)
    hourly = float(experiment.project.reviewer_hourly_usd)
    matrix = _case_matrix(case_ids, case_sums, variant_ids) if case_ids.size else None
    if matrix is not None and hourly:
        _add_review_costs(
            matrix, agg.review_seconds_by_case(experiment_id=experiment.pk), variant_ids, case_ids, hourly
        )
    case_values = _case_values(matrix) if matrix is not None else {}
    draws, n_draws = latency_draws(case_values, variants)

    # Looks: each finished batch with results is one; a running one with results makes the numbers provisional.
    with_results = {int(b) for b in batch_ids[:, 0]} if batch_ids.size else set()
    running = set(
        Batch.objects.filter(experiment_id=experiment.pk, status=Batch.Status.RUNNING).values_list("pk", flat=True)
    )
    provisional = bool(with_results & running)
    runs = len(with_results - running)
    # While a batch runs, the table is read at the level that batch will be tested at when it finishes.
    alpha = offline_alpha(runs=runs + 1 if provisional else runs, provisional=False)

    estimates: dict[str, list] = {name: [] for name in METRICS}
    sample_sizes: dict[str, int] = {}
    for i, variant in enumerate(variants):
        t = (
            _totals(batch_sums[batch_ids[:, 1] == variant.id].sum(axis=0))
            if batch_ids.size
            else _totals(np.zeros(len(COL)))
        )
        cases = {name: values[i] for name, values in matrix.items()} if matrix is not None else None
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
            "review_cost_sum": review_cost_usd(seconds=review.seconds_total if review else 0.0, hourly_usd=hourly),
        })  # fmt: skip
        for name in METRICS:
            estimates[name].append(_estimate(name, t, values, percentiles.get(variant.id), review, cases))
        primary = case_values.get(experiment.primary_metric)
        sample_sizes[variant.key] = int(np.isfinite(primary[i]).sum()) if primary is not None else 0

    guardrails = list(experiment.guardrail_metrics or [])
    cells_by_metric, adjusted_any = {}, False
    for name, info in METRICS.items():
        if all(e[0] is None for e in estimates[name]):
            continue
        margin = guardrail_margin(experiment=experiment, metric=name) if name in guardrails else None
        cells = _cells(name, variants, estimates[name], case_values, matrix, draws, n_draws, margin)
        cells_by_metric[name], adjusted = adjust_and_mark(cells, higher_is_better=is_higher_better(info), alpha=alpha)
        adjusted_any |= adjusted
    cells_by_metric = guardrail_holm(cells_by_metric, alpha=alpha)
    rows = ordered_rows([
        MetricRow(
            name, info.label, info.unit, info.kind == "rate", is_higher_better(info),
            metric_role(name, primary=experiment.primary_metric, guardrails=guardrails), cells_by_metric[name],
        )
        for name, info in METRICS.items()
        if name in cells_by_metric
    ])  # fmt: skip
    has_data = bool(batch_ids.size)
    if provisional:
        live_results = int(sum(batch_sums[np.isin(batch_ids[:, 0], list(running)), COL["calls"]]))
        verdict = Verdict(
            state=VerdictState.COLLECTING_DATA,
            reason=(
                f"A batch is still running ({live_results:,} results so far): the numbers below are provisional, "
                "and the verdict waits until it finishes."
            ),
        )
    else:
        verdict = section_verdict(
            rows=rows, variants=variants, sample_sizes=sample_sizes, primary_metric=experiment.primary_metric,
            guardrails=guardrails, where="offline batch", alpha=alpha, of_what="of test cases", unit="test cases",
        )  # fmt: skip
    # Advice is for the next decision: the batch running now, or the next run after this one.
    next_alpha = offline_alpha(runs=runs + 1, provisional=False)
    return Section(
        kind="offline",
        title="Offline batches",
        method=METHOD,
        unit_name="cases",
        sample_sizes=sample_sizes,
        rows=rows,
        verdict=verdict,
        guidance=offline_guidance(
            experiment=experiment,
            variants=variants,
            case_values=case_values,
            sample_sizes=sample_sizes,
            verdict=verdict,
            alpha=alpha,
            next_alpha=next_alpha,
        )
        if has_data
        else None,
        series=_series(experiment, variants, batch_ids, batch_sums, per_batch_pct) if has_data else [],
        has_data=has_data,
        adjusted=adjusted_any,
        left_out=_left_out(experiment),
        alpha=alpha,
        decision_note=_looks_note(runs=runs, alpha=alpha, provisional=provisional) if has_data else "",
        provisional=provisional,
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
