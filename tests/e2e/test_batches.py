"""End to end: real Celery worker processes, the real OpenAI SDK, and the local stand-in provider.

Redis and PostgreSQL when REDIS_URL / DATABASE_URL are set, else the filesystem transport and SQLite.
Each test uses its own queue, so that no stale message from another run can reach its workers.
"""

import time

import pytest
from django.conf import settings as django_settings

from promptlib.batches.models import Batch, BatchItem
from promptlib.batches.schedules import batch_schedule_create
from promptlib.batches.services import BatchSettings, batch_cancel, batch_start
from promptlib.providers.limits import limiter_for
from tests.batches_support import make_batch, standin_answer, standin_provider, tickets_dataset
from tests.e2e_support import Workers, new_queue_name, wait_for
from tests.standins.server import StandinServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queue(settings):
    name = new_queue_name()
    settings.CELERY_TASK_DEFAULT_QUEUE = name
    settings.PROMPTLIB_BATCH_CHUNK_SIZE = 5
    if not django_settings.REDIS_URL:
        for folder in ("celery-queue", "celery-processed"):
            (django_settings.VAR_DIR / folder).mkdir(parents=True, exist_ok=True)
    return name


@pytest.fixture
def workers(queue):
    pool = Workers(queue=queue)
    yield pool
    pool.stop_all()


@pytest.fixture
def server():
    with StandinServer(latency=0.1, answer=standin_answer, record_bodies=False) as srv:
        yield srv


def _provider(acme, server, **fields):
    config = standin_provider(acme, server, **fields)
    limiter_for(config).reset()
    return config


def _counts(batch):
    return {s: BatchItem.objects.filter(batch=batch, status=s).count() for s in BatchItem.Status.values}


def _finished(batch):
    return Batch.objects.get(pk=batch.pk).status in (Batch.Status.FINISHED, Batch.Status.FAILED)


def _assert_exactly_once(batch):
    keys = list(BatchItem.objects.filter(batch=batch).values_list("variant_id", "case_id", "repeat"))
    assert len(keys) == len(set(keys)) == batch.total
    assert _counts(batch)[BatchItem.Status.DONE] == batch.total


def test_two_worker_processes_complete_a_batch_within_the_concurrency_cap(acme, triage_experiment, server, workers):
    config = _provider(acme, server, max_concurrency=3)
    server.fail_next(2, status=429, retry_after=0.3)
    server.fail_next(1, status=500)
    batch = batch_start(batch=make_batch(triage_experiment, tickets_dataset(acme, count=20), provider=config,
                                         model="standin"))  # fmt: skip
    workers.start()
    workers.start()
    wait_for(lambda: _finished(batch), timeout=60, what=f"the batch to finish\n{workers.output()}")
    _assert_exactly_once(batch)
    items = BatchItem.objects.filter(batch=batch)
    assert all(item.success is True and item.schema_passed is True and item.scores for item in items)
    assert sum(item.attempts for item in items) == batch.total + 3
    stats = server.stats()
    assert stats["requests"] == batch.total + 3
    assert stats["max_in_flight"] <= 3


def test_a_worker_killed_mid_batch_leaves_every_result_exactly_once(acme, triage_experiment, server, workers):
    config = _provider(acme, server, max_concurrency=4)
    server.set_latency(0.2)
    batch = batch_start(batch=make_batch(triage_experiment, tickets_dataset(acme, count=30), provider=config,
                                         model="standin"))  # fmt: skip
    first = workers.start()
    # Kill while calls are in flight: claimed items whose worker dies without a word.
    wait_for(lambda: _counts(batch)["done"] >= 8 and _counts(batch)["running"] > 0, timeout=30, what="calls in flight")
    workers.kill(first)
    assert _counts(batch)["done"] < batch.total
    workers.start(beat=True)  # beat runs the sweeper: expired leases and lost messages are requeued
    wait_for(lambda: _finished(batch), timeout=60, what=f"the batch to finish\n{workers.output()}")
    _assert_exactly_once(batch)
    assert Batch.objects.get(pk=batch.pk).status == Batch.Status.FINISHED


def test_retry_after_is_honoured_by_the_workers(acme, triage_experiment, server, workers):
    config = _provider(acme, server, max_concurrency=1)
    server.set_latency(0.0)
    server.fail_next(1, status=429, retry_after=1.5)
    batch = batch_start(batch=make_batch(triage_experiment, tickets_dataset(acme, count=1), provider=config,
                                         model="standin", variant_keys=["b"]))  # fmt: skip
    workers.start()
    wait_for(lambda: _finished(batch), timeout=30, what="the batch to finish")
    item = BatchItem.objects.get(batch=batch)
    assert item.attempts == 2
    assert item.attempt_log[0]["retry_after"] == 1.5
    stamps = server.stats()["timestamps"]
    assert stamps[1] - stamps[0] >= 1.5


def test_cancelling_stops_the_workers_promptly_and_keeps_finished_results(acme, triage_experiment, server, workers):
    config = _provider(acme, server, max_concurrency=2)
    server.set_latency(0.25)
    batch = batch_start(batch=make_batch(triage_experiment, tickets_dataset(acme, count=30), provider=config,
                                         model="standin"))  # fmt: skip
    workers.start()
    wait_for(lambda: _counts(batch)["done"] >= 4, timeout=30, what="the first results")
    batch_cancel(batch=batch)
    time.sleep(1.5)  # calls in flight finish
    seen = server.stats()["requests"]
    time.sleep(1.5)
    assert server.stats()["requests"] == seen
    counts = _counts(batch)
    assert counts["done"] >= 4
    assert counts["done"] + counts["cancelled"] == batch.total
    assert counts["pending"] == counts["running"] == 0


def test_a_schedule_starts_a_new_batch_per_run(acme, triage_experiment, demo_provider, workers):
    schedule = batch_schedule_create(
        name="nightly", settings=BatchSettings(experiment=triage_experiment, dataset=tickets_dataset(acme, count=2)),
        every_seconds=2,
        min_interval_seconds=1,
    )  # fmt: skip
    workers.start(beat=True)
    wait_for(lambda: schedule.runs.filter(status=Batch.Status.FINISHED).count() >= 2, timeout=40,
             what=f"two scheduled runs\n{workers.output()}")  # fmt: skip
    runs = list(schedule.runs.all())
    assert len({run.pk for run in runs}) == len(runs) >= 2
    assert all(run.schedule_id == schedule.pk for run in runs)


def _ready(workers: Workers, index: int, timeout: float = 60) -> None:
    wait_for(lambda: " ready." in workers.logs[index].read_text(), timeout=timeout, what=f"worker {index} to start")


def test_a_killed_workers_items_run_again_within_the_lease_while_the_other_workers_are_busy(
    acme, triage_experiment, server, queue
):
    # Lease 3 s and a sweep every second (tests/e2e_support.py); the broker would hand the dead worker's
    # messages back only after 120 s, so only the sweeper can bring its items back in time.
    env = {"CELERY_VISIBILITY_TIMEOUT": "120"}
    victim_pool = Workers(queue=queue, env={**env, "PROMPTLIB_BATCH_MAX_THREADS": "2"})  # leaves the survivor slots
    survivor_pool = Workers(queue=queue, env=env)
    config = _provider(acme, server, max_concurrency=8)
    server.set_latency(0.5)
    batch = batch_start(batch=make_batch(triage_experiment, tickets_dataset(acme, count=200), provider=config,
                                         model="standin"))  # fmt: skip
    try:
        victim = victim_pool.start(concurrency=1)
        wait_for(lambda: _counts(batch)["done"] >= 4 and _counts(batch)["running"] > 0, timeout=60,
                 what=f"calls in flight\n{victim_pool.output()}")  # fmt: skip
        victim_pool.kill(victim)
        lost = set(BatchItem.objects.filter(batch=batch, status=BatchItem.Status.RUNNING).values_list("id", flat=True))
        assert lost
        # The survivor's two processes run chunks that keep taking pending items until none is left
        # (about 30 s of work): a sweep sent through the queue would wait for them.
        survivor_pool.start(beat=True)
        _ready(survivor_pool, 0)
        ready_at = time.monotonic()
        wait_for(
            lambda: not BatchItem.objects.filter(id__in=lost, status=BatchItem.Status.RUNNING).exists(),
            timeout=8,
            what=f"the killed worker's items to be released\n{survivor_pool.output()}",
        )
        released_after = time.monotonic() - ready_at
        assert _counts(batch)["pending"] > 50, "released only at the end of the batch"
        wait_for(lambda: _finished(batch), timeout=120, what=f"the batch to finish\n{survivor_pool.output()}")
    finally:
        victim_pool.stop_all()
        survivor_pool.stop_all()
    _assert_exactly_once(batch)
    # Each call lost with the worker is counted: a "lost" attempt before the one that answered.
    for item in BatchItem.objects.filter(id__in=lost):
        assert item.attempts >= 2 and any(entry.get("kind") == "lost" for entry in item.attempt_log), item.attempt_log
    print(f"released {released_after:.1f} s after the survivor was ready")  # noqa: T201


def test_a_big_batch_is_prepared_by_a_worker_and_runs_once_written(acme, triage_experiment, demo_provider, workers,
                                                                   settings):  # fmt: skip
    settings.PROMPTLIB_BATCH_PREPARE_INLINE_ITEMS = 10
    workers.extra_env["PROMPTLIB_BATCH_PREPARE_SLICE"] = "20"  # several slices, each committed
    batch = batch_start(batch=make_batch(triage_experiment, tickets_dataset(acme, count=30), repeats=2))
    assert batch.status == Batch.Status.PREPARING and not batch.items.exists()
    workers.start()
    wait_for(lambda: _finished(batch), timeout=90, what=f"the batch to be prepared and run\n{workers.output()}")
    _assert_exactly_once(batch)
    assert Batch.objects.get(pk=batch.pk).total == 120
