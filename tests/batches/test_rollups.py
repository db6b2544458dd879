"""Rollups of finished batches: the report read from them equals the report read from every item."""

import dataclasses
import io
import random
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import DatabaseError
from django.utils import timezone

from promptlib.analysis import aggregates as agg
from promptlib.analysis.report import experiment_report
from promptlib.batches import rollups
from promptlib.batches.models import (
    Batch,
    BatchCaseSummary,
    BatchItem,
    BatchLatencyCount,
    BatchRollup,
    BatchVariantSummary,
)
from promptlib.batches.reviews import review_submit
from tests.analysis_support import make_dataset, make_experiment

Status, ItemStatus = Batch.Status, BatchItem.Status
SUCCESS = {"control": 0.55, "b": 0.7, "c": 0.5}


def _outcome(rng: random.Random, key: str, open_share: float) -> dict:
    roll = rng.random()
    if roll < open_share:
        return {"status": ItemStatus.PENDING}
    if roll < open_share + 0.1:
        return {"status": ItemStatus.FAILED, "attempts": 3, "cost_usd": rng.choice([0.0, 0.0004])}
    return {
        "status": ItemStatus.DONE,
        # Some outputs have no automatic verdict (awaiting human review).
        "success": None if rng.random() < 0.1 else rng.random() < SUCCESS[key],
        "schema_passed": rng.choice([True, True, False, None]),
        "attempts": rng.choice([1, 1, 1, 2]),
        "latency_ms": rng.randint(300, 1500) + (150 if key == "c" else 0),
        "cost_usd": rng.uniform(0.0001, 0.002),
        "judge_cost_usd": rng.choice([0.0, rng.uniform(0.00001, 0.0001)]),
        "input_tokens": rng.randint(80, 200),
        "output_tokens": rng.randint(20, 120),
        "output": f"Hello from {key}",
    }


def random_batch(experiment, dataset, *, seed: int, repeats: int = 1, status=Status.FINISHED, open_share=0.0):
    """A batch of pseudo-random results: failed calls, retries, missing verdicts, varied costs and latencies."""
    rng = random.Random(seed)
    variants = list(experiment.variants.order_by("key"))
    cases = list(dataset.cases.order_by("position"))
    batch = Batch.objects.create(
        project_id=experiment.project_id, experiment=experiment, dataset=dataset, repeats=repeats, status=status,
        total=len(variants) * len(cases) * repeats, finished_at=timezone.now() if status == Status.FINISHED else None,
    )  # fmt: skip
    BatchItem.objects.bulk_create(
        BatchItem(batch=batch, variant=v, case=case, repeat=r, **_outcome(rng, v.key, open_share))
        for v in variants
        for case in cases
        for r in range(repeats)
    )
    return batch


@pytest.fixture
def three_way(welcome, welcome_content):
    """control, b and c, with latency and cost guardrails."""
    return make_experiment(
        welcome, welcome_content, challengers=("b", "c"), guardrails=["latency_p50_ms", "cost_per_success_usd"]
    )


@pytest.fixture
def history(three_way, acme):
    """Finished batches with and without repeats, a running one, and batches that do not count."""
    dataset = make_dataset(acme, cases=40)
    return {
        "once": random_batch(three_way, dataset, seed=1),
        "repeated": random_batch(three_way, dataset, seed=2, repeats=3),
        "running": random_batch(three_way, dataset, seed=3, status=Status.RUNNING, open_share=0.4),
        "cancelled": random_batch(three_way, dataset, seed=4, status=Status.CANCELLED),
        "failed": random_batch(three_way, dataset, seed=5, status=Status.FAILED),
    }


def assert_same(a, b, path="report"):
    """Equal; floats to 12 digits: sums of squared costs are floats, added up in another order."""
    if isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-18), path
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


def assert_report_matches_items(experiment):
    from_rollups = dataclasses.asdict(experiment_report(experiment=experiment))
    assert_same(from_rollups, dataclasses.asdict(experiment_report(experiment=experiment, rollups=False)))


def test_the_report_from_rollups_equals_the_report_from_every_item(three_way, history):
    sources = agg.batch_sources(experiment_id=three_way.pk)
    assert sources.rolled_up == sorted([history["once"].pk, history["repeated"].pk])
    assert sources.live == [history["running"].pk]
    report = experiment_report(experiment=three_way)
    assert {row.metric for row in report.offline.rows} >= {"task_success_rate", "latency_p95_ms", "consistency"}
    assert_report_matches_items(three_way)


def test_it_builds_the_rollups_of_finished_batches_when_first_reported(three_way, history):
    assert not BatchRollup.objects.exists()
    experiment_report(experiment=three_way)
    assert set(BatchRollup.objects.values_list("batch_id", flat=True)) == {history["once"].pk, history["repeated"].pk}


def test_a_rollup_holds_the_sums_of_the_batch_items(three_way, history):
    batch = history["repeated"]
    assert rollups.batch_rollup_build(batch_id=batch.pk)
    counted = BatchItem.objects.filter(batch=batch, status__in=[ItemStatus.DONE, ItemStatus.FAILED])
    timed = counted.filter(status=ItemStatus.DONE, latency_ms__isnull=False)
    assert BatchCaseSummary.objects.filter(batch=batch).count() == 3 * 40
    assert sum(BatchCaseSummary.objects.filter(batch=batch).values_list("calls", flat=True)) == counted.count()
    assert sum(BatchVariantSummary.objects.filter(batch=batch).values_list("calls", flat=True)) == counted.count()
    assert sum(BatchLatencyCount.objects.filter(batch=batch).values_list("calls", flat=True)) == timed.count()


def _case_rows(batch) -> list[dict]:
    return list(BatchCaseSummary.objects.filter(batch=batch).order_by("variant", "case").values())


def test_rebuilding_gives_the_same_sums(history):
    batch = history["once"]
    rollups.batch_rollup_build(batch_id=batch.pk)
    first = _case_rows(batch)
    rollups.batch_rollup_build(batch_id=batch.pk, force=True)
    again = _case_rows(batch)
    assert first[0]["id"] != again[0]["id"]
    assert [{**row, "id": 0} for row in first] == [{**row, "id": 0} for row in again]


def test_it_leaves_a_current_rollup_alone(history):
    batch = history["once"]
    rollups.batch_rollup_build(batch_id=batch.pk)
    first = _case_rows(batch)
    assert rollups.batch_rollup_build(batch_id=batch.pk)
    assert _case_rows(batch) == first


def test_it_keeps_no_rollup_of_a_batch_that_is_not_finished(history):
    assert not rollups.batch_rollup_build(batch_id=history["running"].pk)
    assert not BatchCaseSummary.objects.filter(batch=history["running"]).exists()


def test_it_rebuilds_the_rollup_when_a_review_decides_an_output(three_way, history, bob):
    batch = history["once"]
    experiment_report(experiment=three_way)
    unjudged = BatchItem.objects.filter(batch=batch, status=ItemStatus.DONE, success__isnull=True).first()
    review_submit(result=unjudged, reviewer=bob, approved=True, seconds=4)
    assert_report_matches_items(three_way)
    assert BatchRollup.objects.get(batch=batch).reviews == 1


def test_it_rebuilds_the_rollup_when_a_rerun_finishes_the_batch_again(three_way, history):
    batch = history["once"]
    experiment_report(experiment=three_way)
    # What a re-run of the failed items does: running again, the items succeed, finished later.
    Batch.objects.filter(pk=batch.pk).update(status=Status.RUNNING, finished_at=None)
    assert_report_matches_items(three_way)
    BatchItem.objects.filter(batch=batch, status=ItemStatus.FAILED).update(
        status=ItemStatus.DONE, success=True, latency_ms=900, attempts=1
    )
    Batch.objects.filter(pk=batch.pk).update(status=Status.FINISHED, finished_at=timezone.now() + timedelta(seconds=1))
    assert_report_matches_items(three_way)


def test_it_reads_the_items_when_a_rollup_cannot_be_built(three_way, history, monkeypatch):
    def busy(**kwargs):
        raise DatabaseError("database is locked")

    monkeypatch.setattr(rollups, "batch_rollup_build", busy)
    sources = agg.batch_sources(experiment_id=three_way.pk)
    assert sources.rolled_up == []
    assert_report_matches_items(three_way)


def test_it_stops_building_when_the_time_budget_is_spent(history):
    batch_ids = [history["once"].pk, history["repeated"].pk]
    assert rollups.batch_rollups_ready(batch_ids=batch_ids, budget_seconds=0) == set()
    assert not BatchRollup.objects.exists()


def test_build_rollups_backfills_every_finished_batch(history):
    out = io.StringIO()
    call_command("build_rollups", stdout=out)
    assert "current for all 2 finished batches" in out.getvalue()
    assert set(BatchRollup.objects.values_list("batch_id", flat=True)) == {history["once"].pk, history["repeated"].pk}


def test_a_batch_that_finishes_gets_its_rollups_built(triage_experiment, tickets):
    from promptlib.batches.models import BatchRollup
    from promptlib.batches.services import batch_run_inline
    from tests.batches_support import make_batch

    batch = batch_run_inline(batch=make_batch(triage_experiment, tickets))

    assert batch.status == "finished"
    assert BatchRollup.objects.filter(batch=batch).exists()
