"""The six experiment metrics (plus tokens, consistency and retrieval) per variant: each defined here, once.

Two layers, so no two readers can disagree on a formula:
  1. aggregates: counts, sums and percentiles over one variant's calls (the names in MetricInfo.needs).
     Every reader — the batch page, the batch API, run_batch and the experiment report — gets them
     from SQL over batch items or their rollups (promptlib.batches.sums, on PostgreSQL and SQLite).
     `aggregates_from_records` computes them in Python from plain CallRecords: the reference the
     tests hold the SQL path to, never used to serve a page.
  2. `metrics_from_aggregates` turns those into the metrics below, for every reader.
     `variant_metrics(records)` runs both layers in Python: the reference implementation.

Metric names (keys of the dict returned), each None when it has nothing to be computed from:
  task_success_rate     calls whose pass/fail scorers all passed ÷ calls with a verdict (failed calls included,
                        as failures). A call with no verdict — its judge's reply could not be read and no
                        other check failed it, or it awaits a person's review — is neither a success nor a
                        failure: it is left out, and counted apart (judge_unread, the review queue).
  schema_pass_rate      calls passing the schema check ÷ calls where a schema check ran
  retry_rate            extra attempts per call = (Σ attempts − calls) ÷ calls
  review_seconds_median median review time among reviewed calls
  review_edit_share     reviewed calls that needed an edit ÷ reviewed calls (with an edit answer)
  latency_p50_ms        50th percentile latency of calls that produced output (not failed)
  latency_p95_ms        95th percentile, same calls
  cost_per_success_usd  (Σ cost_usd incl. retries and failed calls + Σ judge_cost_usd + review cost) ÷ successful
                        calls, where review cost = Σ review seconds × the project's reviewer hourly rate ÷ 3600
                        (review_cost_usd); its parts per success are cost_model_usd, cost_judge_usd and
                        cost_review_usd, which add up to it (a knowledge base's query embedding, when a search
                        made one, is in cost_usd: promptlib.batches.runner.retrieval_prepare)
  input_tokens          mean input tokens per call (all calls); the total is input_tokens_total
  output_tokens         mean output tokens per call (all calls); the total is output_tokens_total
  consistency           cases run at least twice whose every repeat succeeded ÷ cases run at least twice
With a knowledge base (per-call counts: promptlib.scorers.grounding; calls whose case names no
expected sources or facts, and calls without retrieval, add nothing but zeros):
  context_recall        Σ expected sources and facts found in the retrieved passages ÷ Σ expected
                        (a version without retrieval finds none: its recall is 0)
  retrieval_hit_rate    calls whose passages held at least one expected source or fact ÷ calls expecting any
  citation_validity     Σ citations in answers that name a retrieved passage ÷ Σ citations
  faithfulness_rate     answers the faithfulness grader passed ÷ answers it gave a verdict on
  retrieval_ms_mean     mean time to find the passages, over calls that retrieved (also in latency)
The dict also carries `calls`, `successes`, `judge_unread` (calls whose judge could not be read),
`input_tokens_total`, `output_tokens_total` and the three cost parts.

Percentiles and the median use linear interpolation between closest ranks: for sorted x_0..x_{n-1} and
fraction q, h = (n − 1)·q and the result is x_⌊h⌋ + (h − ⌊h⌋)·(x_⌈h⌉ − x_⌊h⌋). This is numpy.percentile's
default ("linear") and exactly PostgreSQL's percentile_cont(q).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class CallRecord:
    case_id: str | int
    repeat: int
    success: bool | None  # all pass/fail scorers passed; None when none gave a verdict
    schema_passed: bool | None  # None when no schema check ran
    attempts: int  # 1 when the first try worked, or when no try was made (a cached answer)
    latency_ms: float
    cost_usd: float  # including retries
    judge_cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    failed: bool = False  # an error left no output
    review_seconds: float | None = None
    review_edited: bool | None = None
    review_seconds_all: float = 0.0  # every review of this call (several reviewers: all their time)
    judge_unread: bool = False
    context_expected: int = 0  # expected sources + facts of the case
    context_found: int = 0  # of them, held by the retrieved passages
    citations_made: int = 0
    citations_valid: int = 0
    faithful: bool | None = None  # the faithfulness grader's verdict; None when none ran
    retrieval_ms: float | None = None  # None: nothing was retrieved


@dataclass(frozen=True)
class MetricInfo:
    name: str
    label: str  # what a marketer reads on the dashboard
    # None: nobody has said (an application metric not registered) — shown, but it never names a winner.
    higher_is_better: bool | None
    kind: Literal["rate", "mean", "median"]  # percentiles count as "median": compare them non-parametrically
    unit: str
    needs: tuple[str, ...]  # the aggregates its formula reads


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in [
        MetricInfo(
            "task_success_rate",
            "Task success",
            True,
            "rate",
            "share",
            ("calls", "verdicts", "successes", "judge_unread"),
        ),
        MetricInfo(
            "schema_pass_rate", "Follows the output format", True, "rate", "share", ("schema_checked", "schema_passes")
        ),
        MetricInfo("retry_rate", "Retries per call", False, "mean", "retries per call", ("calls", "attempts_sum")),
        MetricInfo(
            "review_seconds_median", "Review time (typical)", False, "median", "seconds", ("review_seconds_p50",)
        ),
        MetricInfo("review_edit_share", "Answers needing an edit", False, "rate", "share", ("edit_known", "edits")),
        MetricInfo("latency_p50_ms", "Response time (typical)", False, "median", "ms", ("latency_p50",)),
        MetricInfo("latency_p95_ms", "Response time (slowest 5%)", False, "median", "ms", ("latency_p95",)),
        MetricInfo(
            "cost_per_success_usd",
            "Cost per successful answer",
            False,
            "mean",
            "USD",
            ("successes", "cost_sum", "judge_cost_sum", "review_cost_sum"),
        ),
        MetricInfo("input_tokens", "Prompt size (tokens)", False, "mean", "tokens", ("calls", "input_tokens_sum")),
        MetricInfo("output_tokens", "Answer length (tokens)", False, "mean", "tokens", ("calls", "output_tokens_sum")),
        MetricInfo(
            "consistency",
            "Same result on every repeat",
            True,
            "rate",
            "share",
            ("repeated_cases", "consistent_cases"),
        ),
        MetricInfo(
            "context_recall",
            "Expected facts in the prompt's passages",
            True,
            "rate",
            "share",
            ("context_expected_sum", "context_found_sum"),
        ),
        MetricInfo(
            "retrieval_hit_rate",
            "Search found what the case needs",
            True,
            "rate",
            "share",
            ("grounded_calls", "grounded_hits"),
        ),
        MetricInfo(
            "citation_validity",
            "Citations that point at a given passage",
            True,
            "rate",
            "share",
            ("citations_made_sum", "citations_valid_sum"),
        ),
        MetricInfo(
            "faithfulness_rate",
            "Answers backed by the passages",
            True,
            "rate",
            "share",
            ("faithful_checked", "faithful_passes"),
        ),
        MetricInfo(
            "retrieval_ms_mean",
            "Knowledge search time",
            False,
            "mean",
            "ms",
            ("retrieval_n", "retrieval_ms_sum"),
        ),
    ]
}


def review_cost_usd(*, seconds: float, hourly_usd: float) -> float:
    """What review time cost: seconds × the reviewer's hourly rate ÷ 3600."""
    return float(seconds) * float(hourly_usd) / 3600.0


def application_metric_info(*, name: str, label: str, direction: str, kind: str, unit: str) -> MetricInfo:
    """The description of a metric an application reports, as registered (promptlib.experiments.models)."""
    return MetricInfo(name, label or name, direction == "higher", "rate" if kind == "rate" else "mean", unit or "", ())


def unregistered_metric_info(name: str, *, is_rate: bool) -> MetricInfo:
    """An outcome metric nobody registered: a readable label and no direction."""
    label = name.replace("_", " ").replace(".", " ").strip().capitalize()
    return MetricInfo(name, label, None, "rate" if is_rate else "mean", "share" if is_rate else "", ())


def direction_words(higher_is_better: bool | None) -> str:
    if higher_is_better is None:
        return "direction not set"
    return "higher is better" if higher_is_better else "lower is better"


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear-interpolation percentile (numpy default, PostgreSQL percentile_cont); fraction in [0, 1]."""
    if not 0 <= fraction <= 1:
        raise ValueError("fraction must be between 0 and 1")
    if not values:
        return None
    ordered = sorted(values)
    h = (len(ordered) - 1) * fraction
    low, high = math.floor(h), math.ceil(h)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])


def aggregates_from_records(
    records: Iterable[CallRecord], *, reviewer_hourly_usd: float = 0.0
) -> dict[str, float | int | None]:
    """The Python twin of the SQL sums (SQL's SUM over no rows is NULL; here it is 0, which no formula minds)."""
    records = list(records)
    review_seconds_all = sum(r.review_seconds_all for r in records)
    ok = [not r.failed and r.success is True for r in records]
    latencies = [r.latency_ms for r in records if not r.failed]
    per_case: dict[object, list[bool]] = defaultdict(list)
    for r, good in zip(records, ok, strict=True):
        per_case[r.case_id].append(good)
    repeated = [runs for runs in per_case.values() if len(runs) >= 2]
    return {
        "calls": len(records),
        "verdicts": sum(r.success is not None or r.failed for r in records),
        "successes": sum(ok),
        "schema_checked": sum(r.schema_passed is not None for r in records),
        "schema_passes": sum(r.schema_passed is True for r in records),
        "attempts_sum": sum(r.attempts for r in records),
        "review_seconds_p50": percentile([r.review_seconds for r in records if r.review_seconds is not None], 0.5),
        "edit_known": sum(r.review_edited is not None for r in records),
        "edits": sum(r.review_edited is True for r in records),
        "latency_p50": percentile(latencies, 0.5),
        "latency_p95": percentile(latencies, 0.95),
        "cost_sum": sum(r.cost_usd for r in records),
        "judge_cost_sum": sum(r.judge_cost_usd for r in records),
        "review_cost_sum": review_cost_usd(seconds=review_seconds_all, hourly_usd=reviewer_hourly_usd),
        "judge_unread": sum(r.judge_unread for r in records),
        "input_tokens_sum": sum(r.input_tokens for r in records),
        "output_tokens_sum": sum(r.output_tokens for r in records),
        "repeated_cases": len(repeated),
        "consistent_cases": sum(all(runs) for runs in repeated),
        "context_expected_sum": sum(r.context_expected for r in records),
        "context_found_sum": sum(r.context_found for r in records),
        "grounded_calls": sum(r.context_expected > 0 for r in records),
        "grounded_hits": sum(r.context_expected > 0 and r.context_found > 0 for r in records),
        "citations_made_sum": sum(r.citations_made for r in records),
        "citations_valid_sum": sum(r.citations_valid for r in records),
        "faithful_checked": sum(r.faithful is not None for r in records),
        "faithful_passes": sum(r.faithful is True for r in records),
        "retrieval_n": sum(r.retrieval_ms is not None for r in records),
        "retrieval_ms_sum": sum(r.retrieval_ms for r in records if r.retrieval_ms is not None),
    }


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return None if not denominator else (numerator or 0) / denominator


def metrics_from_aggregates(agg: dict[str, float | int | None]) -> dict[str, float | int | None]:
    """The metric formulas, shared by the SQL path and the reference implementation."""
    # Counts and token sums are whole numbers; SQL hands them over as floats.
    calls = int(agg["calls"] or 0)
    successes = int(agg["successes"] or 0)
    model, judge, review = (float(agg.get(name) or 0) for name in ("cost_sum", "judge_cost_sum", "review_cost_sum"))
    return {
        "task_success_rate": _ratio(successes, agg["verdicts"]),
        "schema_pass_rate": _ratio(agg["schema_passes"], agg["schema_checked"]),
        "retry_rate": _ratio((agg["attempts_sum"] or 0) - calls, calls),
        "review_seconds_median": agg["review_seconds_p50"],
        "review_edit_share": _ratio(agg["edits"], agg["edit_known"]),
        "latency_p50_ms": agg["latency_p50"],
        "latency_p95_ms": agg["latency_p95"],
        "cost_per_success_usd": _ratio(model + judge + review, successes),
        "cost_model_usd": _ratio(model, successes),
        "cost_judge_usd": _ratio(judge, successes),
        "cost_review_usd": _ratio(review, successes),
        "judge_unread": int(agg.get("judge_unread") or 0),
        "input_tokens": _ratio(agg["input_tokens_sum"], calls),
        "output_tokens": _ratio(agg["output_tokens_sum"], calls),
        "consistency": _ratio(agg["consistent_cases"], agg["repeated_cases"]),
        "context_recall": _ratio(agg["context_found_sum"], agg["context_expected_sum"]),
        "retrieval_hit_rate": _ratio(agg["grounded_hits"], agg["grounded_calls"]),
        "citation_validity": _ratio(agg["citations_valid_sum"], agg["citations_made_sum"]),
        "faithfulness_rate": _ratio(agg["faithful_passes"], agg["faithful_checked"]),
        "retrieval_ms_mean": _ratio(agg["retrieval_ms_sum"], agg["retrieval_n"]),
        "calls": calls,
        "successes": successes,
        "input_tokens_total": int(agg["input_tokens_sum"] or 0),
        "output_tokens_total": int(agg["output_tokens_sum"] or 0),
    }


def variant_metrics(
    records: Iterable[CallRecord], *, reviewer_hourly_usd: float = 0.0
) -> dict[str, float | int | None]:
    """Every metric for one variant's calls; the reference the SQL path must match."""
    return metrics_from_aggregates(aggregates_from_records(records, reviewer_hourly_usd=reviewer_hourly_usd))
