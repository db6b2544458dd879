import numpy as np
import pytest
from django.utils import timezone

from promptlib.batches.models import Batch, BatchItem, BatchRollup, Review
from promptlib.batches.selectors import batch_variant_aggregates, batch_variant_metrics
from promptlib.experiments.metrics import (
    METRICS,
    CallRecord,
    aggregates_from_records,
    percentile,
    variant_metrics,
)
from tests.analysis_support import make_dataset, make_experiment

# CallRecord's positional order is the column order in the comment below.
_rec = CallRecord


# case, repeat, success, schema, attempts, latency, cost, judge cost, tokens in, tokens out
RECORDS = [
    _rec("a", 0, True, True, 1, 100, 0.010, 0.001, 100, 20, review_seconds=30, review_edited=False),
    _rec("a", 1, True, True, 2, 300, 0.020, 0.001, 100, 40, review_seconds=50, review_edited=True),
    _rec("b", 0, False, False, 1, 200, 0.010, 0.001, 120, 10),
    _rec("b", 1, True, None, 1, 400, 0.010, 0.000, 120, 30, review_seconds=10, review_edited=False),
    _rec("c", 0, None, None, 3, 5000, 0.005, 0.000, 80, 0, failed=True),  # errored after 3 attempts
    _rec("d", 0, True, True, 1, 1000, 0.015, 0.002, 90, 50),
]


@pytest.fixture
def metrics():
    return variant_metrics(RECORDS)


def test_task_success_rate_counts_failed_calls_in_the_denominator(metrics):
    # successes a0, a1, b1, d0 = 4 of 6 calls (c0 failed, b0 did not pass)
    assert metrics["task_success_rate"] == pytest.approx(4 / 6)
    assert (metrics["calls"], metrics["successes"]) == (6, 4)


def test_schema_pass_rate_is_over_calls_where_the_check_ran(metrics):
    # checked: a0 T, a1 T, b0 F, d0 T -> 3 / 4
    assert metrics["schema_pass_rate"] == 0.75


def test_retry_rate_is_extra_attempts_per_call(metrics):
    # attempts 1+2+1+1+3+1 = 9; (9 - 6) / 6 = 0.5
    assert metrics["retry_rate"] == 0.5


def test_review_effort_is_over_reviewed_calls(metrics):
    # seconds [10, 30, 50] -> median 30; edited a1 only of a0, a1, b1 -> 1 / 3
    assert metrics["review_seconds_median"] == 30
    assert metrics["review_edit_share"] == pytest.approx(1 / 3)


def test_latency_percentiles_interpolate_over_calls_with_output(metrics):
    # not failed, sorted: [100, 200, 300, 400, 1000] (c0's 5000 ms is excluded)
    # p50: h = 4 * 0.5 = 2 -> 300
    # p95: h = 4 * 0.95 = 3.8 -> 400 + 0.8 * (1000 - 400) = 880
    assert metrics["latency_p50_ms"] == 300
    assert metrics["latency_p95_ms"] == pytest.approx(880)


def test_cost_per_success_includes_retries_failures_and_judging(metrics):
    # cost 0.010 + 0.020 + 0.010 + 0.010 + 0.005 + 0.015 = 0.070; judge 0.001 * 3 + 0.002 = 0.005
    # (0.070 + 0.005) / 4 successes = 0.01875
    assert metrics["cost_per_success_usd"] == pytest.approx(0.01875)


def test_tokens_have_totals_and_means_per_call(metrics):
    # in: 100 + 100 + 120 + 120 + 80 + 90 = 610, / 6 = 101.67; out: 20 + 40 + 10 + 30 + 0 + 50 = 150, / 6 = 25
    assert (metrics["input_tokens_total"], metrics["output_tokens_total"]) == (610, 150)
    assert metrics["input_tokens"] == pytest.approx(610 / 6)
    assert metrics["output_tokens"] == 25


def test_consistency_is_the_share_of_repeated_cases_that_always_succeeded(metrics):
    # repeated cases: a (T, T) and b (F, T); c and d ran once -> 1 / 2
    assert metrics["consistency"] == 0.5


def test_no_records_gives_no_metrics():
    result = variant_metrics([])
    assert result["calls"] == 0
    assert all(result[name] is None for name in METRICS)


def test_cost_per_success_is_none_without_a_success():
    records = [_rec("a", 0, False, None, 1, 100, 0.01, 0, 10, 10)]
    assert variant_metrics(records)["cost_per_success_usd"] is None


def test_all_failed_calls_give_zero_success_not_none():
    records = [_rec("a", 0, None, None, 2, 100, 0.01, 0, 10, 0, failed=True)]
    assert variant_metrics(records)["task_success_rate"] == 0.0


def test_success_rate_is_none_when_no_pass_fail_scorer_ran():
    # Only human review configured: no call has a verdict.
    records = [_rec("a", 0, None, None, 1, 100, 0.01, 0, 10, 5, review_seconds=20, review_edited=False)]
    result = variant_metrics(records)
    assert result["task_success_rate"] is None
    assert result["review_seconds_median"] == 20


def test_consistency_is_none_without_repeats():
    records = [_rec("a", 0, True, None, 1, 100, 0.01, 0, 10, 5), _rec("b", 0, True, None, 1, 100, 0.01, 0, 10, 5)]
    assert variant_metrics(records)["consistency"] is None


def test_percentile_interpolates_linearly():
    # [1, 2, 3, 4]: p50 h = 1.5 -> 2.5; p95 h = 2.85 -> 3 + 0.85 = 3.85
    assert percentile([4, 1, 3, 2], 0.5) == 2.5
    assert percentile([4, 1, 3, 2], 0.95) == pytest.approx(3.85)
    assert percentile([7], 0.95) == 7
    assert percentile([], 0.5) is None


def test_percentile_matches_numpys_default():
    values = [12.5, 3, 8, 100, 41, 41, 0.5, 77, 9]
    for q in (0, 0.1, 0.5, 0.9, 0.95, 1):
        assert percentile(values, q) == pytest.approx(np.percentile(values, q * 100))


def test_percentile_rejects_a_fraction_outside_zero_to_one():
    with pytest.raises(ValueError, match="fraction"):
        percentile([1, 2], 95)


def test_metric_metadata_documents_every_metric():
    assert list(METRICS) == [
        "task_success_rate",
        "schema_pass_rate",
        "retry_rate",
        "review_seconds_median",
        "review_edit_share",
        "latency_p50_ms",
        "latency_p95_ms",
        "cost_per_success_usd",
        "input_tokens",
        "output_tokens",
        "consistency",
        "context_recall",
        "retrieval_hit_rate",
        "citation_validity",
        "faithfulness_rate",
        "retrieval_ms_mean",
    ]
    assert {m.kind for m in METRICS.values()} <= {"rate", "mean", "median"}
    assert METRICS["task_success_rate"].higher_is_better is True
    assert METRICS["latency_p95_ms"].higher_is_better is False


def test_every_metric_needs_only_aggregates_the_sums_provide():
    assert {need for info in METRICS.values() for need in info.needs} == set(aggregates_from_records(RECORDS))
    assert METRICS["retry_rate"].needs == ("calls", "attempts_sum")


def _store(batch, variant, records, cases, reviewer, second_reviewer):
    """The records as batch items with their reviews, as the batch engine and the review page write them."""
    for r in records:
        item = BatchItem.objects.create(
            batch=batch, variant=variant, case=cases[r.case_id], repeat=r.repeat,
            status=BatchItem.Status.FAILED if r.failed else BatchItem.Status.DONE,
            success=r.success, schema_passed=r.schema_passed,
            attempts=0 if r.case_id == "d" else r.attempts,  # d was answered from the cache: no try, counted as one
            latency_ms=r.latency_ms, cost_usd=r.cost_usd, judge_cost_usd=r.judge_cost_usd,
            input_tokens=r.input_tokens, output_tokens=r.output_tokens, output="answer",
        )  # fmt: skip
        if r.review_seconds is not None:
            edited = "an edit" if r.review_edited else ""
            Review.objects.create(result=item, reviewer=reviewer, approved=True, edited_output=edited,
                                  seconds=r.review_seconds)  # fmt: skip
            # A second opinion later: the call's first review is the one that counts.
            Review.objects.create(result=item, reviewer=second_reviewer, approved=False, edited_output="other",
                                  seconds=r.review_seconds + 1000)  # fmt: skip


def _assert_matches_reference(from_sql: dict, reference: dict):
    assert set(reference) <= set(from_sql)
    for name, value in reference.items():
        assert from_sql[name] == (value if value is None else pytest.approx(value, rel=1e-12)), name


@pytest.mark.django_db
def test_the_sql_aggregates_match_the_python_reference(welcome, welcome_content, acme, bob, alice):
    """The batch page's, batch API's and report's SQL path (items, then rollups) equals the reference."""
    experiment = make_experiment(welcome, welcome_content)
    control, b = experiment.variants.order_by("-is_control")
    cases = dict(zip("abcd", make_dataset(acme, cases=4).cases.order_by("position"), strict=True))
    batch = Batch.objects.create(project=acme, experiment=experiment, dataset=cases["a"].dataset,
                                 status=Batch.Status.RUNNING, total=len(RECORDS) + 3)  # fmt: skip
    by_variant = {control.pk: RECORDS, b.pk: RECORDS[1:4]}
    for variant in (control, b):
        _store(batch, variant, by_variant[variant.pk], cases, bob, alice)

    for source in ("items", "rollups"):
        from_sql = batch_variant_aggregates(batch=batch)
        assert set(from_sql) == set(by_variant)
        for variant_id, records in by_variant.items():
            _assert_matches_reference(from_sql[variant_id], aggregates_from_records(records))
        metrics = {row["variant_id"]: row["metrics"] for row in batch_variant_metrics(batch=batch)}
        for variant_id, records in by_variant.items():
            _assert_matches_reference(metrics[variant_id], variant_metrics(records))
        assert BatchRollup.objects.filter(batch=batch).exists() == (source == "rollups")
        Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.FINISHED, finished_at=timezone.now())


def test_an_answer_with_no_verdict_is_neither_a_success_nor_a_failure():
    records = [
        _rec("a", 0, True, None, 1, 100, 0.01),
        _rec("b", 0, False, None, 1, 100, 0.01),
        _rec("c", 0, None, None, 1, 100, 0.01, judge_unread=True),  # the grader's reply could not be read
        _rec("d", 0, None, None, 1, 100, 0.01, failed=True),  # a failed call is a failure
    ]
    m = variant_metrics(records)
    assert m["task_success_rate"] == pytest.approx(1 / 3)
    assert m["judge_unread"] == 1
    # Its cost still counts: every call's cost over the successes.
    assert m["cost_per_success_usd"] == pytest.approx(0.04)


def test_review_time_is_priced_at_the_hourly_rate_and_its_part_adds_up():
    records = [
        _rec("a", 0, True, None, 1, 100, 0.01, 0.002, review_seconds=60, review_seconds_all=90),
        _rec("b", 0, True, None, 1, 100, 0.01, 0.002, review_seconds=30, review_seconds_all=30),
    ]
    m = variant_metrics(records, reviewer_hourly_usd=36)
    # (0.02 model + 0.004 grader + 120 s × $36/h ÷ 3600 = $1.20) ÷ 2 successes
    assert m["cost_per_success_usd"] == pytest.approx((0.02 + 0.004 + 1.2) / 2)
    assert (m["cost_model_usd"], m["cost_judge_usd"], m["cost_review_usd"]) == (
        pytest.approx(0.01),
        pytest.approx(0.002),
        pytest.approx(0.6),
    )
