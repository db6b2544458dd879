"""Preparing: a big batch is created at once and its items are written by a task, in committed slices."""

import pytest

from promptlib.batches.models import Batch, BatchItem
from promptlib.batches.prepare import case_ids_for, items_insert
from promptlib.batches.selectors import batch_progress
from promptlib.batches.services import (
    BatchError,
    BatchSettings,
    batch_cancel,
    batch_create,
    batch_prepare,
    batch_run_inline,
    batch_start,
)
from promptlib.tasks import batch_prepare_task
from tests.batches_support import make_batch

pytestmark = pytest.mark.django_db
API = "/api/v1"


@pytest.fixture
def big(settings):
    """Batches of more than 10 calls are "big": written by the task, 2 cases (12 items) per slice."""
    settings.PROMPTLIB_BATCH_PREPARE_INLINE_ITEMS = 10
    settings.PROMPTLIB_BATCH_PREPARE_SLICE = 12


def _prepared_later(capture, experiment, dataset, **kwargs) -> tuple[Batch, list]:
    sent = []
    with capture(execute=False) as callbacks:
        batch = make_batch(experiment, dataset, **kwargs)
    for callback in callbacks:
        sent.append(callback)
    return batch, sent


def test_a_big_batch_is_created_preparing_with_no_item_written_yet(
    big, triage_experiment, tickets, django_capture_on_commit_callbacks
):
    batch, callbacks = _prepared_later(django_capture_on_commit_callbacks, triage_experiment, tickets, repeats=3)
    assert batch.status == Batch.Status.PREPARING
    assert batch.total == 36 and batch.prepared == 0
    assert not batch.items.exists()
    assert len(callbacks) == 1  # the prepare task, sent once the batch is committed


def test_creating_a_big_batch_sends_the_prepare_task_by_name(
    big, triage_experiment, tickets, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(
        batch_prepare_task, "apply_async", lambda args, kwargs=None, **options: sent.append(tuple(args))
    )
    with django_capture_on_commit_callbacks(execute=True):
        batch = make_batch(triage_experiment, tickets, repeats=3)
    assert sent == [(batch.pk,)]


def test_the_task_writes_one_item_per_variant_case_and_repeat_and_leaves_it_pending(
    big, triage_experiment, tickets, django_capture_on_commit_callbacks
):
    batch, _ = _prepared_later(django_capture_on_commit_callbacks, triage_experiment, tickets, repeats=3)
    batch_prepare_task(batch.pk)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.PENDING and batch.prepared == 36
    assert len(set(batch.items.values_list("variant_id", "case_id", "repeat"))) == 36
    assert set(batch.items.values_list("status", flat=True)) == {BatchItem.Status.PENDING}


def test_items_are_interleaved_by_variant_within_each_case(triage_experiment, tickets):
    batch = make_batch(triage_experiment, tickets, repeats=2)
    rows = list(batch.items.order_by("id").values_list("case_id", "repeat", "variant_id"))
    cases = [case for case, _, _ in rows]
    assert cases == sorted(cases)  # the dataset's order
    assert len({variant for _, _, variant in rows[:2]}) == 2  # both variants of the first case and repeat first


def test_progress_shows_how_many_calls_are_written(big, triage_experiment, tickets, django_capture_on_commit_callbacks):
    batch, _ = _prepared_later(django_capture_on_commit_callbacks, triage_experiment, tickets, repeats=3)
    seen = []
    batch_prepare(batch_id=batch.pk, on_slice=lambda b: seen.append(batch_progress(batch=b)))
    assert [(p["status"], p["prepared"]) for p in seen] == [("preparing", 12), ("preparing", 24), ("preparing", 36)]
    assert seen[0]["prepared_percent"] == 33.3


def test_a_batch_asked_to_start_while_preparing_starts_once_prepared(
    big, triage_experiment, tickets, django_capture_on_commit_callbacks
):
    batch, _ = _prepared_later(django_capture_on_commit_callbacks, triage_experiment, tickets, repeats=3)
    batch = batch_start(batch=batch)
    assert batch.status == Batch.Status.PREPARING and batch.started_at is None
    with django_capture_on_commit_callbacks(execute=False) as sends:
        batch = batch_prepare(batch_id=batch.pk)
    assert batch.status == Batch.Status.RUNNING and batch.started_at is not None
    assert sends  # its items are enqueued
    assert set(batch.items.values_list("enqueued_at", flat=True)) != {None}


def test_a_failure_while_preparing_leaves_no_item_and_says_why(
    big, triage_experiment, tickets, django_capture_on_commit_callbacks
):
    batch, _ = _prepared_later(django_capture_on_commit_callbacks, triage_experiment, tickets, repeats=3)

    def fail_after_the_second_slice(b):
        if b.prepared >= 24:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        batch_prepare(batch_id=batch.pk, on_slice=fail_after_the_second_slice)
    batch.refresh_from_db()
    assert not batch.items.exists()
    assert batch.status == Batch.Status.FAILED
    assert "none was written" in batch.error and "disk full" in batch.error


def test_a_prepare_task_run_again_after_its_worker_died_resumes_without_duplicates(
    big, triage_experiment, tickets, django_capture_on_commit_callbacks
):
    batch, _ = _prepared_later(django_capture_on_commit_callbacks, triage_experiment, tickets, repeats=3)

    def die(b):
        raise SystemExit("SIGKILL")  # not an Exception: no clean-up runs, as when the process is killed

    with pytest.raises(SystemExit):
        batch_prepare(batch_id=batch.pk, on_slice=die)
    assert Batch.objects.get(pk=batch.pk).prepared == 12 and batch.items.count() == 12
    batch_prepare_task(batch.pk)  # the redelivered message
    batch.refresh_from_db()
    assert batch.status == Batch.Status.PENDING
    assert batch.items.count() == 36 == len(set(batch.items.values_list("variant_id", "case_id", "repeat")))


def test_a_batch_cancelled_while_preparing_stops_writing(
    big, triage_experiment, tickets, django_capture_on_commit_callbacks
):
    batch, _ = _prepared_later(django_capture_on_commit_callbacks, triage_experiment, tickets, repeats=3)
    batch_cancel(batch=batch)
    batch_prepare(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.CANCELLED and not batch.items.exists()


def test_an_inline_run_prepares_a_big_batch_first(big, triage_experiment, tickets, django_capture_on_commit_callbacks):
    batch, _ = _prepared_later(django_capture_on_commit_callbacks, triage_experiment, tickets, repeats=3)
    batch = batch_run_inline(batch=batch)
    assert batch.status == Batch.Status.FINISHED
    assert batch.items.filter(status=BatchItem.Status.DONE).count() == 36


def test_the_item_cap_still_refuses_a_batch_naming_repeats(big, triage_experiment, tickets, settings):
    settings.PROMPTLIB_BATCH_MAX_ITEMS = 30
    with pytest.raises(BatchError) as exc:
        batch_create(settings=BatchSettings(experiment=triage_experiment, dataset=tickets, repeats=3))
    assert exc.value.field == "repeats" and "36 calls" in exc.value.message
    assert not Batch.objects.exists()


def test_the_api_answers_a_big_batch_at_once_as_preparing(big, api_client, acme, triage_experiment, tickets):
    from promptlib.core.apikeys import api_key_create

    writer = api_client(api_key_create(project=acme, scopes="read,write", name="script")[1])
    r = writer.post(f"{API}/batches", {"experiment": triage_experiment.pk, "dataset": "tickets", "repeats": 3},
                    format="json")  # fmt: skip
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["status"] == "preparing" and body["total"] == 36 and body["prepared"] == 0
    assert Batch.objects.get(pk=body["id"]).start_when_prepared  # "start" (the default) waits for the items


def test_the_api_refuses_a_batch_over_the_cap_with_a_400(api_client, acme, triage_experiment, tickets, settings):
    from promptlib.core.apikeys import api_key_create

    settings.PROMPTLIB_BATCH_MAX_ITEMS = 30
    writer = api_client(api_key_create(project=acme, scopes="read,write", name="script")[1])
    r = writer.post(f"{API}/batches", {"experiment": triage_experiment.pk, "dataset": "tickets", "repeats": 3},
                    format="json")  # fmt: skip
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "repeats"


def test_items_insert_writes_the_product_in_order(triage_experiment, tickets):
    batch = Batch.objects.create(project=triage_experiment.project, experiment=triage_experiment, dataset=tickets,
                                 status=Batch.Status.PREPARING)  # fmt: skip
    variants = list(triage_experiment.variants.order_by("id").values_list("id", flat=True))
    cases = case_ids_for(dataset=tickets, tags=["even"])
    assert items_insert(batch_id=batch.pk, case_ids=cases, repeats=2, variant_ids=variants) == 3 * 2 * 2
    rows = list(BatchItem.objects.filter(batch=batch).order_by("id").values_list("case_id", "repeat", "variant_id"))
    assert rows == [(c, r, v) for c in cases for r in range(2) for v in variants]
    item = BatchItem.objects.filter(batch=batch).first()
    assert (item.status, item.attempts, item.attempt_log, item.claim_token) == ("pending", 0, [], "")


def test_two_tasks_preparing_one_batch_write_each_slice_once(
    big, triage_experiment, tickets, django_capture_on_commit_callbacks
):
    batch, _ = _prepared_later(django_capture_on_commit_callbacks, triage_experiment, tickets, repeats=3)

    def die(b):
        raise SystemExit("SIGKILL")

    def second_task_writes_one_slice(b):
        if b.prepared == 12:  # a second task (a re-sent message) writes the next slice meanwhile, then dies
            with pytest.raises(SystemExit):
                batch_prepare(batch_id=batch.pk, on_slice=die)

    batch_prepare(batch_id=batch.pk, on_slice=second_task_writes_one_slice)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.PENDING
    assert batch.items.count() == 36 == len(set(batch.items.values_list("variant_id", "case_id", "repeat")))


def test_the_sweeper_resends_the_prepare_task_of_a_batch_preparing_for_long(
    big, triage_experiment, tickets, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.core.cache import cache
    from django.utils import timezone

    from promptlib.batches.services import batches_sweep

    batch, _ = _prepared_later(django_capture_on_commit_callbacks, triage_experiment, tickets, repeats=3)
    cache.delete(f"promptlib:batch-prepare-resent:{batch.pk}")
    sent = []
    monkeypatch.setattr(batch_prepare_task, "apply_async", lambda args, kwargs=None, **o: sent.append(tuple(args)))
    assert batches_sweep()["prepare_resent"] == 0  # young: its task is on its way
    Batch.objects.filter(pk=batch.pk).update(created_at=timezone.now() - timedelta(seconds=3600))
    assert batches_sweep()["prepare_resent"] == 1 and sent == [(batch.pk,)]
    assert batches_sweep()["prepare_resent"] == 0  # once per period
    cache.delete(f"promptlib:batch-prepare-resent:{batch.pk}")
