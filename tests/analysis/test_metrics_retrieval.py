"""The retrieval metrics against hand-computed values, and the SQL path (items, then rollups) against them."""

import pytest
from django.utils import timezone

from promptlib.batches.models import Batch, BatchItem, BatchRollup
from promptlib.batches.selectors import batch_variant_metrics
from promptlib.experiments.metrics import CallRecord, variant_metrics
from tests.analysis_support import make_dataset, make_experiment


def _rec(case, expected, found, made, valid, faithful, retrieval_ms, failed=False):
    return CallRecord(
        case_id=case, repeat=0, success=not failed, schema_passed=None, attempts=1, latency_ms=100, cost_usd=0.0,
        failed=failed, context_expected=expected, context_found=found, citations_made=made,
        citations_valid=valid, faithful=faithful, retrieval_ms=retrieval_ms,
    )  # fmt: skip


# case, expected sources+facts, found, citations made, valid, faithful, retrieval ms
RECORDS = [
    _rec("a", 2, 2, 1, 1, True, 10),
    _rec("b", 3, 1, 2, 1, False, 20),
    _rec("c", 2, 0, 0, 0, None, 30),
    _rec("d", 0, 0, 1, 0, True, 40),  # the case expects nothing
    _rec("e", 0, 0, 0, 0, None, None, failed=True),  # failed before answering: nothing retrieved
]


@pytest.fixture
def metrics():
    return variant_metrics(RECORDS)


def test_context_recall_is_found_over_expected_summed_over_calls(metrics):
    # expected 2 + 3 + 2 + 0 = 7; found 2 + 1 + 0 = 3 → 3/7
    assert metrics["context_recall"] == pytest.approx(3 / 7)


def test_the_hit_rate_counts_calls_that_found_at_least_one_expected_item(metrics):
    # calls expecting something: a, b, c; found something: a, b → 2/3
    assert metrics["retrieval_hit_rate"] == pytest.approx(2 / 3)


def test_citation_validity_is_valid_over_made(metrics):
    # made 1 + 2 + 0 + 1 = 4; valid 1 + 1 + 0 + 0 = 2 → 1/2
    assert metrics["citation_validity"] == 0.5


def test_faithfulness_is_over_the_answers_the_grader_judged(metrics):
    # judged a (pass), b (fail), d (pass) → 2/3
    assert metrics["faithfulness_rate"] == pytest.approx(2 / 3)


def test_retrieval_time_is_the_mean_over_calls_that_retrieved(metrics):
    # (10 + 20 + 30 + 40) / 4 = 25
    assert metrics["retrieval_ms_mean"] == 25


def test_without_retrieval_the_metrics_are_none_not_zero():
    plain = variant_metrics([CallRecord("a", 0, True, None, 1, 100, 0.0)])
    assert all(
        plain[name] is None
        for name in (
            "context_recall",
            "retrieval_hit_rate",
            "citation_validity",
            "faithfulness_rate",
            "retrieval_ms_mean",
        )
    )


@pytest.mark.django_db
def test_the_sql_path_gives_the_same_retrieval_metrics(welcome, welcome_content, acme):
    experiment = make_experiment(welcome, welcome_content)
    control, b = experiment.variants.order_by("-is_control")
    cases = dict(zip("abcde", make_dataset(acme, cases=5).cases.order_by("position"), strict=True))
    batch = Batch.objects.create(project=acme, experiment=experiment, dataset=cases["a"].dataset,
                                 status=Batch.Status.RUNNING, total=len(RECORDS) + 1)  # fmt: skip
    by_variant = {control.pk: RECORDS, b.pk: RECORDS[:1]}
    for variant in (control, b):
        for r in by_variant[variant.pk]:
            BatchItem.objects.create(
                batch=batch, variant=variant, case=cases[r.case_id], repeat=0,
                status=BatchItem.Status.FAILED if r.failed else BatchItem.Status.DONE, success=r.success,
                attempts=1, latency_ms=100, context_expected=r.context_expected, context_found=r.context_found,
                citations_made=r.citations_made, citations_valid=r.citations_valid, faithful=r.faithful,
                retrieval_ms=r.retrieval_ms,
            )  # fmt: skip
    names = ("context_recall", "retrieval_hit_rate", "citation_validity", "faithfulness_rate", "retrieval_ms_mean")
    for source in ("items", "rollups"):
        metrics = {row["variant_id"]: row["metrics"] for row in batch_variant_metrics(batch=batch)}
        for variant_id, records in by_variant.items():
            reference = variant_metrics(records)
            for name in names:
                assert metrics[variant_id][name] == pytest.approx(reference[name]), (source, name)
        assert BatchRollup.objects.filter(batch=batch).exists() == (source == "rollups")
        Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.FINISHED, finished_at=timezone.now())
