"""Provider limits as the provider sees them: real processes, the real openai SDK, the local stand-in.

Requests per window counted from the stand-in's arrival times, calls in flight from its own count,
and the slots of a SIGKILLed Celery worker, on Redis when REDIS_URL is set (and lock files when not).
"""

import multiprocessing
import threading
import time
from bisect import bisect_left

import pytest

from promptlib.batches.models import BatchItem
from promptlib.batches.services import batch_start
from promptlib.providers import ChatRequest, ProviderError, provider_for
from promptlib.providers.limits import ProviderLimiter, limiter_for
from promptlib.providers.models import ProviderConfig
from tests.batches_support import make_batch, standin_answer, standin_provider, tickets_dataset
from tests.e2e_support import Workers, new_queue_name, wait_for
from tests.providers.test_limits import _make_backend, backend_spec  # noqa: F401 — the fixture, both backends
from tests.standins.server import StandinServer

FORK = multiprocessing.get_context("fork")


def max_in_window(timestamps: list[float], window: float) -> int:
    times = sorted(timestamps)
    return max((bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


def _calls(spec, base_url, calls, threads, options):
    """A worker process: `threads` threads sharing `calls` calls, each inside the limiter, through the SDK."""
    config = ProviderConfig(name="standin", kind="openai", base_url=base_url, timeout_seconds=options["timeout"])
    provider = provider_for(config)
    limiter = ProviderLimiter(key="p1", backend=_make_backend(spec), **options["limiter"])
    left, lock = [calls], threading.Lock()

    def thread():
        while True:
            with lock:
                if not left[0]:
                    return
                left[0] -= 1
            try:
                with limiter:
                    provider.complete(ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}]))
            except ProviderError:
                continue

    pool = [threading.Thread(target=thread) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def _run(spec, server, *, processes, calls, threads, timeout=10.0, **limiter):
    # Import the SDK before forking, as Celery's prefork parent does: children then start fast.
    provider_for(ProviderConfig(name="warm-up", kind="openai", base_url=server.openai_base_url))
    options = {"timeout": timeout, "limiter": {"acquire_timeout": 60, **limiter}}
    children = [
        FORK.Process(target=_calls, args=(spec, server.openai_base_url, calls, threads, options))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
    assert [child.exitcode for child in children] == [0] * processes


def test_the_provider_never_sees_more_requests_in_a_window_than_the_rpm(backend_spec):  # noqa: F811
    with StandinServer(latency=0.05, record_bodies=False) as server:
        # 36 requests at 8 per 1 s window from 3 processes of 4 threads: 4 windows of bursts.
        _run(backend_spec, server, processes=3, calls=12, threads=4, max_concurrency=12, rpm=8, rpm_window=1.0)
        stats = server.stats()
    assert stats["requests"] == 36
    assert max_in_window(stats["timestamps"], 1.0) <= 8


def test_a_call_abandoned_at_its_timeout_keeps_its_slot_while_the_provider_works_on(backend_spec):  # noqa: F811
    with StandinServer(latency=0.05, record_bodies=False) as server:
        # The provider takes 1.5 s on the first calls; the client gives up after 1 s.
        server.hang_next(4, seconds=1.5)
        _run(backend_spec, server, processes=2, calls=6, threads=2, timeout=1.0, max_concurrency=2, call_timeout=1.0)
        stats = server.stats()
    assert stats["requests"] == 12
    assert stats["max_in_flight"] <= 2


@pytest.mark.django_db(transaction=True)
def test_the_slots_of_a_killed_worker_come_back_within_15_seconds_and_a_live_hung_call_keeps_its(
    acme, triage_experiment, settings
):
    settings.CELERY_TASK_DEFAULT_QUEUE = queue = new_queue_name()
    settings.PROMPTLIB_BATCH_CHUNK_SIZE = 5
    if not settings.REDIS_URL:
        for folder in ("celery-queue", "celery-processed"):
            (settings.VAR_DIR / folder).mkdir(parents=True, exist_ok=True)
    workers = Workers(queue=queue)
    with StandinServer(latency=0.1, answer=standin_answer, record_bodies=False) as server:
        config = standin_provider(acme, server, max_concurrency=2, timeout_seconds=60)
        limiter = limiter_for(config)
        limiter.reset()
        server.hang_next(10, seconds=120)  # every call hangs: the worker holds both slots
        batch = batch_start(batch=make_batch(triage_experiment, tickets_dataset(acme, count=4), provider=config,
                                             model="standin"))  # fmt: skip
        try:
            proc = workers.start()
            wait_for(lambda: server.stats()["in_flight"] == 2, timeout=60, what=f"two hung calls\n{workers.output()}")
            time.sleep(12)  # longer than a lease's 10 s: the worker's heartbeat keeps its live calls' slots
            assert limiter.in_use() == 2
            workers.kill(proc)
            killed = time.monotonic()
            wait_for(lambda: limiter.in_use() == 0, timeout=20, interval=0.2, what="the killed worker's slots")
            assert time.monotonic() - killed <= 15
            assert BatchItem.objects.filter(batch=batch, status=BatchItem.Status.DONE).count() == 0
        finally:
            workers.stop_all()
