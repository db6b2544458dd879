"""Exactly once: claims by conditional update, leases, and writes guarded by the claim token."""

from datetime import timedelta

import pytest
from django.utils import timezone

from promptlib.batches.calls import Outcome
from promptlib.batches.models import Batch, BatchItem
from promptlib.batches.runner import batch_chunk_run, items_claim, outcomes_write
from promptlib.batches.services import batch_start, batches_sweep
from tests.batches_support import make_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(triage_experiment, tickets):
    return batch_start(batch=make_batch(triage_experiment, tickets))


def _ids(batch):
    return list(batch.items.order_by("id").values_list("id", flat=True))


def test_an_item_is_claimed_by_one_worker_only(running):
    ids = _ids(running)
    first = items_claim(item_ids=ids, token="a" * 32, lease_seconds=60)
    second = items_claim(item_ids=ids, token="b" * 32, lease_seconds=60)
    assert len(first) == len(ids)
    assert second == []


def test_an_expired_lease_can_be_claimed_again(running):
    ids = _ids(running)
    items_claim(item_ids=ids, token="a" * 32, lease_seconds=60)
    BatchItem.objects.filter(id__in=ids).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert len(items_claim(item_ids=ids, token="b" * 32, lease_seconds=60)) == len(ids)


def test_a_worker_that_lost_its_lease_cannot_overwrite_the_new_owner(running):
    item_id = _ids(running)[0]
    items_claim(item_ids=[item_id], token="a" * 32, lease_seconds=60)
    BatchItem.objects.filter(id=item_id).update(lease_until=timezone.now() - timedelta(seconds=1))
    items_claim(item_ids=[item_id], token="b" * 32, lease_seconds=60)
    stale = Outcome(item_id, "done", 1, [], values={"output": "stale"})
    outcomes_write(outcomes=[stale], token="a" * 32)
    item = BatchItem.objects.get(id=item_id)
    assert item.status == BatchItem.Status.RUNNING
    assert item.output == ""


def test_a_duplicated_chunk_never_calls_or_stores_twice(running):
    ids = _ids(running)
    first = batch_chunk_run(batch_id=running.pk, item_ids=ids)
    finished = {i.id: i.finished_at for i in BatchItem.objects.filter(id__in=ids)}
    again = batch_chunk_run(batch_id=running.pk, item_ids=ids)
    assert first.claimed == len(ids)
    assert again.claimed == 0
    assert {i.id: i.finished_at for i in BatchItem.objects.filter(id__in=ids)} == finished
    assert BatchItem.objects.filter(batch=running).count() == running.total


def test_a_chunk_of_a_cancelled_batch_does_nothing(running):
    Batch.objects.filter(pk=running.pk).update(status=Batch.Status.CANCELLED)
    report = batch_chunk_run(batch_id=running.pk, item_ids=_ids(running))
    assert report.claimed == 0


def test_the_sweeper_releases_expired_leases_and_requeues_them(running, settings, django_capture_on_commit_callbacks):
    ids = _ids(running)
    items_claim(item_ids=ids[:2], token="a" * 32, lease_seconds=60)
    BatchItem.objects.filter(id__in=ids[:2]).update(lease_until=timezone.now() - timedelta(seconds=1))
    settings.PROMPTLIB_BATCH_REQUEUE_SECONDS = 3600
    with django_capture_on_commit_callbacks() as callbacks:
        result = batches_sweep()
    assert result["requeued"] == 2
    assert len(callbacks) == 1
    assert set(BatchItem.objects.filter(id__in=ids[:2]).values_list("status", flat=True)) == {"pending"}


def test_the_sweeper_leaves_live_leases_alone(running, settings):
    ids = _ids(running)
    items_claim(item_ids=ids, token="a" * 32, lease_seconds=60)
    settings.PROMPTLIB_BATCH_REQUEUE_SECONDS = 3600
    assert batches_sweep()["requeued"] == 0


def test_the_sweeper_requeues_pending_items_whose_message_was_lost(running, settings):
    BatchItem.objects.filter(batch=running).update(enqueued_at=timezone.now() - timedelta(seconds=120))
    settings.PROMPTLIB_BATCH_REQUEUE_SECONDS = 60
    assert batches_sweep()["requeued"] == running.total


def test_the_sweeper_finishes_a_batch_whose_items_are_all_done(running):
    running.items.update(status=BatchItem.Status.DONE)
    assert batches_sweep()["finished"] == 1
    running.refresh_from_db()
    assert running.status == Batch.Status.FINISHED


# --- calls lost with their worker (SIGKILL) count as attempts ----------------------------------


def _claimed_by_a_dead_worker(batch, count: int = 2) -> list[int]:
    ids = _ids(batch)[:count]
    items_claim(item_ids=ids, token="a" * 32, lease_seconds=60)
    BatchItem.objects.filter(id__in=ids).update(lease_until=timezone.now() - timedelta(seconds=1))
    return ids


def test_an_item_the_sweeper_takes_back_from_a_dead_worker_counts_the_lost_call(running):
    ids = _claimed_by_a_dead_worker(running)
    batches_sweep()
    for item in BatchItem.objects.filter(id__in=ids):
        assert item.status == "pending" and item.attempts == 1
        assert [(e["n"], e["ok"], e["kind"], e["cost_unknown"]) for e in item.attempt_log] == [(1, False, "lost", True)]


def test_a_claim_that_takes_over_an_expired_lease_counts_the_lost_call(running):
    ids = _claimed_by_a_dead_worker(running, count=1)
    BatchItem.objects.filter(id=ids[0]).update(attempts=2, attempt_log=[{"n": 1, "ok": False}, {"n": 2, "ok": False}])
    [work] = items_claim(item_ids=ids, token="b" * 32, lease_seconds=60)
    assert work.attempts == 3 and [e["n"] for e in work.attempt_log] == [1, 2, 3]
    assert work.attempt_log[-1]["kind"] == "lost"
    assert BatchItem.objects.get(id=ids[0]).attempts == 3


def test_a_pending_item_claimed_counts_no_lost_call(running):
    [work] = items_claim(item_ids=_ids(running)[:1], token="a" * 32, lease_seconds=60)
    assert work.attempts == 0 and work.attempt_log == []


def test_a_finished_call_after_a_lost_one_keeps_both_in_the_log(running):
    [item_id] = _claimed_by_a_dead_worker(running, count=1)
    batch_chunk_run(batch_id=running.pk, item_ids=[item_id])
    item = BatchItem.objects.get(id=item_id)
    assert item.status == "done" and item.attempts == 2
    assert [(e["n"], e.get("kind")) for e in item.attempt_log] == [(1, "lost"), (2, None)]
    assert item.cost_usd == 0.0  # the demo provider's calls are free; the lost one adds nothing known


def test_an_expired_lease_of_a_cancelled_batch_is_cancelled_and_counted(running):
    ids = _claimed_by_a_dead_worker(running)
    Batch.objects.filter(pk=running.pk).update(status=Batch.Status.CANCELLED)
    assert batches_sweep()["released"] == 0
    assert set(BatchItem.objects.filter(id__in=ids).values_list("status", "attempts")) == {("cancelled", 1)}
