"""Retries against the local stand-in server: backoff, Retry-After, failures that are kept."""

import pytest

from promptlib.batches.models import BatchItem
from promptlib.batches.runner import batch_chunk_run, worker_concurrency_set
from promptlib.batches.services import batch_rerun_failed, batch_run_inline, batch_start
from promptlib.providers.limits import limiter_for
from tests.batches_support import make_batch, standin_answer, standin_provider, tickets_dataset
from tests.standins.server import StandinServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def server():
    with StandinServer(latency=0.01, answer=standin_answer) as srv:
        yield srv


@pytest.fixture
def provider(acme, server):
    config = standin_provider(acme, server)
    limiter_for(config).reset()
    return config


@pytest.fixture
def one_case(acme):
    return tickets_dataset(acme, count=1, name="one")


def _single_item_batch(experiment, dataset, provider):
    return batch_start(batch=make_batch(experiment, dataset, provider=provider, model="standin", variant_keys=["b"]))


def test_a_temporary_error_is_retried_and_counted(triage_experiment, one_case, provider, server):
    server.fail_next(1, status=500)
    batch = batch_run_inline(batch=_single_item_batch(triage_experiment, one_case, provider))
    item = batch.items.get()
    assert item.status == BatchItem.Status.DONE
    assert item.attempts == 2
    assert [entry["ok"] for entry in item.attempt_log] == [False, True]
    assert item.success is True


def test_retry_after_is_honoured(triage_experiment, one_case, provider, server):
    server.fail_next(1, status=429, retry_after=0.6)
    batch_run_inline(batch=_single_item_batch(triage_experiment, one_case, provider))
    stamps = server.stats()["timestamps"]
    assert len(stamps) == 2
    assert stamps[1] - stamps[0] >= 0.6


def test_a_case_whose_retries_run_out_is_stored_as_failed(triage_experiment, one_case, provider, server):
    server.fail_next(10, status=503)
    batch = batch_run_inline(batch=_single_item_batch(triage_experiment, one_case, provider))
    item = batch.items.get()
    assert item.status == BatchItem.Status.FAILED
    assert item.attempts == provider.max_retries + 1
    assert "503" in item.error
    assert item.success is False


def test_a_rerun_item_gets_a_full_retry_budget_and_keeps_its_history(triage_experiment, one_case, provider, server):
    server.fail_next(provider.max_retries + 1, status=503)
    batch = batch_run_inline(batch=_single_item_batch(triage_experiment, one_case, provider))
    first = provider.max_retries + 1
    assert batch.items.get().attempts == first
    server.fail_next(provider.max_retries, status=503)  # every retry of the re-run fails but the last
    batch_rerun_failed(batch=batch)
    item = batch_run_inline(batch=batch).items.get()
    assert item.status == BatchItem.Status.DONE
    assert item.attempts == 2 * first == len(item.attempt_log)


def test_a_permanent_error_is_not_retried(triage_experiment, one_case, provider, server):
    server.fail_next(1, status=400)
    batch = batch_run_inline(batch=_single_item_batch(triage_experiment, one_case, provider))
    item = batch.items.get()
    assert item.status == BatchItem.Status.FAILED
    assert item.attempts == 1
    assert item.error_kind == "bad_request"


def test_a_long_wait_releases_the_item_for_a_later_task(triage_experiment, one_case, provider, server, settings):
    settings.PROMPTLIB_BATCH_MAX_SLEEP_SECONDS = 0.1
    server.fail_next(1, status=429, retry_after=5)
    batch = _single_item_batch(triage_experiment, one_case, provider)
    report = batch_chunk_run(batch_id=batch.pk, item_ids=[batch.items.get().pk])
    item = batch.items.get()
    assert item.status == BatchItem.Status.PENDING
    assert item.not_before is not None
    assert report.rescheduled and report.rescheduled[0][1] >= 5


def test_a_hanging_call_times_out_and_is_retried(triage_experiment, one_case, acme, server):
    config = standin_provider(acme, server, name="slow", timeout_seconds=0.5)
    server.hang_next(1, seconds=3)
    batch = batch_run_inline(batch=_single_item_batch(triage_experiment, one_case, config))
    item = batch.items.get()
    assert item.status == BatchItem.Status.DONE
    assert item.attempt_log[0]["kind"] == "timeout"


def _run_slow_calls(experiment, project, server, *, cap: int, cases: int) -> int:
    """Run 2 variants × `cases` calls of 50 ms in this process; returns how many calls succeeded."""
    config = standin_provider(project, server, name="capped", max_concurrency=cap)
    limiter_for(config).reset()
    server.set_latency(0.05)
    dataset = tickets_dataset(project, count=cases, name="slow")
    batch = batch_run_inline(batch=batch_start(batch=make_batch(experiment, dataset, provider=config, model="standin")))
    return batch.items.filter(status=BatchItem.Status.DONE).count()


def test_the_concurrency_cap_holds_across_threads(triage_experiment, acme, server):
    assert _run_slow_calls(triage_experiment, acme, server, cap=3, cases=20) == 40
    assert server.stats()["max_in_flight"] == 3


def test_a_process_runs_at_most_the_configured_threads_below_the_cap(triage_experiment, acme, server, settings):
    settings.PROMPTLIB_BATCH_MAX_THREADS = 2
    assert _run_slow_calls(triage_experiment, acme, server, cap=10, cases=10) == 20
    assert server.stats()["max_in_flight"] == 2


def test_a_provider_that_takes_one_call_at_a_time_gets_one(triage_experiment, acme, server):
    assert _run_slow_calls(triage_experiment, acme, server, cap=1, cases=3) == 6
    assert server.stats()["max_in_flight"] == 1


def test_a_chunk_runs_its_share_of_the_cap_when_the_worker_runs_several(triage_experiment, acme, server):
    worker_concurrency_set(2)
    try:
        assert _run_slow_calls(triage_experiment, acme, server, cap=6, cases=10) == 20
    finally:
        worker_concurrency_set(1)
    assert server.stats()["max_in_flight"] == 3


def test_the_response_cache_serves_identical_calls_but_never_across_repeats(
    triage_experiment, one_case, provider, server
):
    first = batch_run_inline(
        batch=batch_start(
            batch=make_batch(triage_experiment, one_case, provider=provider, model="standin", repeats=2, use_cache=True)
        )
    )
    assert server.stats()["requests"] == 4  # 2 variants × 2 repeats, nothing cached yet
    second = batch_run_inline(
        batch=batch_start(
            batch=make_batch(triage_experiment, one_case, provider=provider, model="standin", repeats=2, use_cache=True)
        )
    )
    assert server.stats()["requests"] == 4
    assert all(item.cached for item in second.items.all())
    assert not any(item.cached for item in first.items.all())
