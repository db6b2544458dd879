"""Batch lifecycle: creating every item up front, running, cancelling, re-running failed items."""

import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from promptlib.batches.datasets import CaseData, cases_add, dataset_create
from promptlib.batches.models import Batch, BatchItem, ScorerConfig
from promptlib.batches.selectors import batch_progress
from promptlib.batches.services import (
    BatchError,
    BatchSettings,
    batch_cancel,
    batch_chunk_execute,
    batch_complete_if_done,
    batch_create,
    batch_rerun_failed,
    batch_run_inline,
    batch_start,
    batches_sweep,
    items_enqueue,
)
from promptlib.experiments.services import VariantSpec, experiment_create
from promptlib.prompts.content import VersionContent
from promptlib.prompts.services import template_create, version_create
from promptlib.providers.limits import limiter_for
from promptlib.providers.models import ProviderConfig
from promptlib.tasks import batch_chunk
from tests.batches_support import make_batch, standin_answer, standin_provider, tickets_dataset
from tests.e2e_support import wait_for
from tests.standins.server import StandinServer

pytestmark = pytest.mark.django_db


def test_it_creates_one_pending_item_per_variant_case_and_repeat(triage_experiment, tickets):
    batch = make_batch(triage_experiment, tickets, repeats=3)
    assert batch.total == 2 * 6 * 3
    assert batch.items.count() == 36
    assert set(batch.items.values_list("status", flat=True)) == {BatchItem.Status.PENDING}
    keys = set(batch.items.values_list("variant_id", "case_id", "repeat"))
    assert len(keys) == 36


def test_it_runs_only_cases_with_the_chosen_tags(triage_experiment, tickets):
    batch = make_batch(triage_experiment, tickets, tags=["even"])
    assert batch.total == 2 * 3


def test_it_runs_only_the_chosen_variants(triage_experiment, tickets):
    batch = make_batch(triage_experiment, tickets, variant_keys=["b"])
    assert set(batch.items.values_list("variant__key", flat=True)) == {"b"}


def test_it_rejects_a_dataset_of_another_project(triage_experiment, globex):
    other = tickets_dataset(globex)
    with pytest.raises(BatchError) as exc:
        make_batch(triage_experiment, other)
    assert exc.value.field == "dataset"


def test_it_rejects_zero_repeats(triage_experiment, tickets):
    with pytest.raises(BatchError) as exc:
        make_batch(triage_experiment, tickets, repeats=0)
    assert exc.value.field == "repeats"


def test_it_rejects_tags_no_case_has(triage_experiment, tickets):
    with pytest.raises(BatchError) as exc:
        make_batch(triage_experiment, tickets, tags=["nope"])
    assert exc.value.field == "tags"


def test_it_rejects_a_variant_whose_provider_the_project_lacks(triage_experiment, tickets):
    ProviderConfig.objects.filter(name="demo").delete()
    with pytest.raises(BatchError) as exc:
        make_batch(triage_experiment, tickets)
    assert exc.value.field == "provider"


def test_a_started_batch_is_running_and_stamped(triage_experiment, tickets):
    batch = batch_start(batch=make_batch(triage_experiment, tickets))
    assert batch.status == Batch.Status.RUNNING
    assert batch.started_at is not None
    assert not batch.items.filter(enqueued_at__isnull=True).exists()


def test_it_refuses_to_start_a_batch_twice(triage_experiment, tickets):
    batch = batch_start(batch=make_batch(triage_experiment, tickets))
    with pytest.raises(BatchError):
        batch_start(batch=batch)


def test_a_demo_batch_runs_to_the_end_with_scored_results(triage_experiment, tickets):
    batch = batch_run_inline(batch=make_batch(triage_experiment, tickets))
    assert batch.status == Batch.Status.FINISHED
    items = list(batch.items.all())
    assert all(item.status == BatchItem.Status.DONE for item in items)
    assert all(item.attempts == 1 and item.latency_ms is not None for item in items)
    assert all({s["metric"] for s in item.scores} == {"category_match", "schema"} for item in items)
    assert all(item.schema_passed is True for item in items)
    assert all(item.success is not None for item in items)


def test_cancelling_stops_pending_items_and_keeps_finished_ones(triage_experiment, tickets):
    batch = batch_start(batch=make_batch(triage_experiment, tickets))
    first = batch.items.order_by("id").first()
    BatchItem.objects.filter(pk=first.pk).update(status=BatchItem.Status.DONE, output="kept")
    batch = batch_cancel(batch=batch)
    assert batch.status == Batch.Status.CANCELLED
    assert batch.items.filter(status=BatchItem.Status.CANCELLED).count() == batch.total - 1
    assert BatchItem.objects.get(pk=first.pk).output == "kept"


@pytest.mark.django_db(transaction=True)
def test_cancelling_closes_items_whose_calls_end_in_a_retry_after_the_cancel(acme, triage_experiment, settings):
    settings.PROMPTLIB_BATCH_MAX_SLEEP_SECONDS = 0.1  # a Retry-After of 30 s releases the item to wait
    with StandinServer(latency=0.5, answer=standin_answer, record_bodies=False) as server:
        provider = standin_provider(acme, server)
        limiter_for(provider).reset()
        server.fail_next(4, status=429, retry_after=30)
        batch = batch_start(batch=make_batch(triage_experiment, tickets_dataset(acme, count=2), provider=provider,
                                             model="standin"))  # fmt: skip
        ids = list(batch.items.values_list("id", flat=True))

        def run_chunk():
            try:
                batch_chunk_execute(batch_id=batch.pk, item_ids=ids)
            finally:
                connection.close()

        chunk = threading.Thread(target=run_chunk)
        chunk.start()
        wait_for(lambda: server.stats()["in_flight"] == len(ids), timeout=10, what="every call in flight")
        batch_cancel(batch=batch)
        chunk.join(timeout=30)
    assert not chunk.is_alive()
    assert server.stats()["requests"] == len(ids)  # each call answered 429 once, and was not tried again
    statuses = set(BatchItem.objects.filter(batch=batch).values_list("status", flat=True))
    assert statuses == {BatchItem.Status.CANCELLED}


def test_the_sweeper_closes_an_item_left_waiting_for_a_retry_in_a_cancelled_batch(triage_experiment, tickets):
    batch = batch_cancel(batch=batch_start(batch=make_batch(triage_experiment, tickets)))
    item = batch.items.first()
    BatchItem.objects.filter(pk=item.pk).update(status=BatchItem.Status.PENDING, not_before=timezone.now())
    batches_sweep()
    assert not batch.items.exclude(status=BatchItem.Status.CANCELLED).exists()


def test_it_refuses_to_cancel_a_finished_batch(triage_experiment, tickets):
    batch = batch_run_inline(batch=make_batch(triage_experiment, tickets))
    with pytest.raises(BatchError):
        batch_cancel(batch=batch)


def test_rerunning_failed_items_runs_only_those_and_keeps_one_row_per_key(triage_experiment, tickets):
    batch = batch_run_inline(batch=make_batch(triage_experiment, tickets))
    failed_ids = list(batch.items.order_by("id").values_list("id", flat=True)[:3])
    BatchItem.objects.filter(id__in=failed_ids).update(status=BatchItem.Status.FAILED, error="boom", output="")
    untouched = batch.items.exclude(id__in=failed_ids).first()
    assert batch_rerun_failed(batch=batch) == 3
    batch = batch_run_inline(batch=batch)
    assert batch.status == Batch.Status.FINISHED
    assert batch.items.count() == batch.total
    assert not batch.items.filter(status=BatchItem.Status.FAILED).exists()
    assert BatchItem.objects.get(pk=untouched.pk).finished_at == untouched.finished_at


def test_a_rerun_counts_its_progress_from_its_own_start(triage_experiment, tickets):
    batch = batch_run_inline(batch=make_batch(triage_experiment, tickets))
    first_start = batch.started_at
    BatchItem.objects.filter(id__in=batch.items.order_by("id").values("id")[:3]).update(status="failed")
    batch_rerun_failed(batch=batch)
    assert batch.started_at > first_start
    progress = batch_progress(batch=batch)
    assert progress["pending"] == 3 and progress["done"] == batch.total - 3
    assert progress["calls_per_second"] == 0.0 and progress["eta_seconds"] is None  # none of its calls finished yet


def test_a_rerun_keeps_the_attempt_history(triage_experiment, tickets):
    batch = batch_run_inline(batch=make_batch(triage_experiment, tickets))
    failed = list(batch.items.order_by("id").values_list("id", flat=True)[:3])
    log = [{"n": n, "ok": False, "kind": "server_error", "status": 500} for n in (1, 2, 3)]
    BatchItem.objects.filter(id__in=failed).update(status="failed", attempts=3, attempt_log=log, error="500")
    before = sum(batch.items.values_list("attempts", flat=True))
    batch_rerun_failed(batch=batch)
    assert set(BatchItem.objects.filter(id__in=failed).values_list("attempts", "rerun_from")) == {(3, 3)}
    batch = batch_run_inline(batch=batch)
    for item in BatchItem.objects.filter(id__in=failed):
        assert item.status == "done" and item.attempts == 4
        assert [entry["n"] for entry in item.attempt_log] == [1, 2, 3, 4] and item.attempt_log[-1]["ok"]
    # The retry rate counts every call: a re-run adds calls, it never takes any away.
    assert sum(batch.items.values_list("attempts", flat=True)) == before + 3


def test_rerunning_refuses_a_batch_without_failures(triage_experiment, tickets):
    batch = batch_run_inline(batch=make_batch(triage_experiment, tickets))
    with pytest.raises(BatchError):
        batch_rerun_failed(batch=batch)


def test_a_batch_whose_every_call_failed_is_failed(triage_experiment, tickets):
    batch = batch_start(batch=make_batch(triage_experiment, tickets))
    batch.items.update(status=BatchItem.Status.FAILED)
    assert batch_complete_if_done(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.FAILED


def test_a_batch_with_pending_items_is_not_complete(triage_experiment, tickets):
    batch = batch_start(batch=make_batch(triage_experiment, tickets))
    assert not batch_complete_if_done(batch_id=batch.pk)


def test_batch_create_writes_nothing_when_validation_fails(triage_experiment, tickets):
    with pytest.raises(BatchError):
        batch_create(settings=BatchSettings(experiment=triage_experiment, dataset=tickets, repeats=1000))
    assert not Batch.objects.exists()


def _chunks_sent(monkeypatch, capture, count: int) -> list[list[int]]:
    sent = []
    monkeypatch.setattr(batch_chunk, "apply_async", lambda args, kwargs=None, **options: sent.append(args[1]))
    with capture(execute=True):
        items_enqueue(batch_id=1, item_ids=list(range(count)))
    assert sorted(i for chunk in sent for i in chunk) == list(range(count))
    return sent


def test_a_small_batch_is_sent_in_enough_chunks_for_every_pool_process(monkeypatch, django_capture_on_commit_callbacks):
    assert len(_chunks_sent(monkeypatch, django_capture_on_commit_callbacks, 40)) == 14


def test_a_large_batch_is_sent_in_chunks_of_the_configured_size(monkeypatch, django_capture_on_commit_callbacks):
    assert {len(chunk) for chunk in _chunks_sent(monkeypatch, django_capture_on_commit_callbacks, 4000)} == {50}


# --- attack: catastrophic backtracking in the regex scorer ---------------------------------------


def _echo_experiment(project):
    """Two versions the demo model answers by echoing the ticket (no schema, no list of categories)."""
    template = template_create(project=project, slug="echo", title="Echo")
    versions = [
        version_create(template=template, content=VersionContent(
            role="You repeat text.", task=f"{verb}: {{{{ ticket }}}}", provider="demo", model="demo-model",
            variables=[{"name": "ticket", "type": "string", "required": True}],
        ))[0]
        for verb in ("Repeat", "Echo")
    ]  # fmt: skip
    return experiment_create(template=template, name="Echo", variants=[
        VariantSpec(key="control", version=versions[0], is_control=True), VariantSpec(key="b", version=versions[1]),
    ])  # fmt: skip


def test_a_redos_pattern_on_a_batch_finishes_within_seconds(acme, demo_provider):
    # (a+)+$ on 27 a's and a '!' took Python's re ~10 s per output; 8 outputs here.
    experiment = _echo_experiment(acme)
    ScorerConfig.objects.create(experiment=experiment, kind="regex", name="redos", config={"pattern": "(a+)+$"})
    dataset = dataset_create(project=acme, name="redos")
    cases_add(dataset=dataset, cases=[CaseData(input={"ticket": "a" * 27 + "!"}) for _ in range(4)])
    started = time.perf_counter()
    batch = batch_run_inline(batch=make_batch(experiment, dataset))
    assert time.perf_counter() - started < 10
    assert batch.status == Batch.Status.FINISHED
    items = list(batch.items.all())
    assert len(items) == 8 and all("a" * 27 + "!" in item.output for item in items)
    assert all([(s["metric"], s["passed"]) for s in item.scores] == [("redos", False)] for item in items)


def test_a_batch_over_the_item_cap_is_refused_naming_repeats(triage_experiment, tickets, settings):
    # 6 cases × 3 repeats × 2 variants = 36 calls, over a cap of 30.
    settings.PROMPTLIB_BATCH_MAX_ITEMS = 30
    with pytest.raises(BatchError) as exc:
        batch_create(settings=BatchSettings(experiment=triage_experiment, dataset=tickets, repeats=3))
    assert exc.value.field == "repeats" and "36 calls" in exc.value.message and "at most 30" in exc.value.message
    assert not Batch.objects.exists()


def test_a_batch_at_the_item_cap_is_created(triage_experiment, tickets, settings):
    settings.PROMPTLIB_BATCH_MAX_ITEMS = 36
    batch = batch_create(settings=BatchSettings(experiment=triage_experiment, dataset=tickets, repeats=3))
    assert batch.total == 36
