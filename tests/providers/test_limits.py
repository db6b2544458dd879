"""Provider limits across processes, on both backends (Redis, and lock files for machines without it)."""

import multiprocessing
import os
import signal
import threading
import time
import uuid

import pytest
from django.conf import settings

from promptlib.providers import ChatRequest, ProviderError, provider_for
from promptlib.providers.limits import FileBackend, ProviderLimiter, RedisBackend, default_backend, limiter_for
from promptlib.providers.models import ProviderConfig
from tests.standins import StandinServer

REDIS_URL = settings.REDIS_URL or "redis://127.0.0.1:6379/0"
FORK = multiprocessing.get_context("fork")


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def _make_backend(spec):
    kind, where = spec
    return FileBackend(where) if kind == "file" else RedisBackend(REDIS_URL, prefix=where)


@pytest.fixture(params=["file", "redis"])
def backend_spec(request, tmp_path):
    """A picklable recipe for a fresh backend, so that child processes build their own."""
    if request.param == "file":
        yield ("file", str(tmp_path / "limits"))
        return
    yield from _redis_recipe()


def _redis_recipe():
    """A Redis backend under keys of its own, deleted afterwards (skipped when Redis is not reachable)."""
    if not _redis_reachable():
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    prefix = f"promptlib-test:{uuid.uuid4().hex}"
    yield ("redis", prefix)
    backend = RedisBackend(REDIS_URL, prefix=prefix)
    backend.client.delete(*(backend.client.keys(f"{prefix}:*") or [prefix]))


def _in_threads(target, count: int) -> None:
    threads = [threading.Thread(target=target) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _limiter(spec, **options) -> ProviderLimiter:
    return ProviderLimiter(**{"key": "p1", "max_concurrency": 3, "backend": _make_backend(spec), **options})


def _hammer(spec, in_flight, peak, lock, calls, max_concurrency):
    """A worker process: 4 threads, each making `calls` limited calls, tracking calls in flight machine-wide."""
    limiter = _limiter(spec, max_concurrency=max_concurrency)

    def thread():
        for _ in range(calls):
            with limiter:
                with lock:
                    in_flight.value += 1
                    peak.value = max(peak.value, in_flight.value)
                time.sleep(0.01)
                with lock:
                    in_flight.value -= 1

    _in_threads(thread, 4)


def test_concurrency_is_never_exceeded_across_processes(backend_spec):
    in_flight, peak, lock = FORK.Value("i", 0), FORK.Value("i", 0), FORK.Lock()
    processes = [FORK.Process(target=_hammer, args=(backend_spec, in_flight, peak, lock, 6, 3)) for _ in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(60)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    # 16 threads competed: the limit was reached, and never passed.
    assert peak.value == 3


def _call_standin(spec, base_url, calls):
    """A worker process calling the stand-in through the real SDK, each call inside the limiter."""
    config = ProviderConfig(name="standin", kind="openai", base_url=base_url)
    provider, limiter = provider_for(config), _limiter(spec, max_concurrency=3)

    def thread():
        for _ in range(calls):
            with limiter:
                provider.complete(ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}]))

    _in_threads(thread, 4)


def test_the_provider_never_sees_more_calls_in_flight_than_the_limit(backend_spec):
    with StandinServer(latency=0.02) as server:
        # Import the SDK before forking, as Celery's prefork parent does: children then start fast.
        provider_for(ProviderConfig(name="warm-up", kind="openai", base_url=server.openai_base_url))
        processes = [
            FORK.Process(target=_call_standin, args=(backend_spec, server.openai_base_url, 4)) for _ in range(3)
        ]
        for p in processes:
            p.start()
        for p in processes:
            p.join(60)
        stats = server.stats()
    assert [p.exitcode for p in processes] == [0, 0, 0]
    assert (stats["requests"], stats["max_in_flight"]) == (48, 3)


def _acquire_some(spec, count, successes, lock, rpm):
    limiter = _limiter(spec, max_concurrency=10, rpm=rpm, acquire_timeout=0.3)
    for _ in range(count):
        try:
            limiter.release(limiter.acquire())
        except ProviderError:
            continue
        with lock:
            successes.value += 1


def test_requests_per_minute_hold_across_processes(backend_spec):
    successes, lock = FORK.Value("i", 0), FORK.Lock()
    processes = [FORK.Process(target=_acquire_some, args=(backend_spec, 3, successes, lock, 5)) for _ in range(3)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(30)
    assert successes.value == 5


def test_waiting_for_an_rpm_token_times_out_as_a_temporary_rate_limit(backend_spec):
    limiter = _limiter(backend_spec, rpm=1, acquire_timeout=0.2)
    limiter.release(limiter.acquire())
    with pytest.raises(ProviderError) as caught:
        limiter.acquire()
    assert (caught.value.kind, caught.value.permanent) == ("rate_limit", False)


def test_rpm_tokens_free_up_as_the_window_slides(backend_spec):
    limiter = _limiter(backend_spec, rpm=2, rpm_window=0.5, acquire_timeout=5)
    started = time.monotonic()
    for _ in range(3):
        limiter.release(limiter.acquire())
    assert 0.4 <= time.monotonic() - started < 3


def _hold_forever(spec, ready):
    limiter = _limiter(spec, max_concurrency=1, lease_ttl=1)
    limiter.acquire()
    ready.set()
    time.sleep(60)


def test_a_live_process_keeps_its_slot_past_the_lease_ttl_and_a_killed_one_frees_it(backend_spec):
    ready = FORK.Event()
    holder = FORK.Process(target=_hold_forever, args=(backend_spec, ready))
    holder.start()
    assert ready.wait(10)
    time.sleep(2.5)  # 2.5 leases of 1 s: the holder's heartbeat renewed its lease
    limiter = _limiter(backend_spec, max_concurrency=1, lease_ttl=1, acquire_timeout=0.1)
    with pytest.raises(ProviderError):
        limiter.acquire()  # the holder is alive: no slot
    os.kill(holder.pid, signal.SIGKILL)
    holder.join()
    limiter.acquire_timeout = 5
    started = time.monotonic()
    limiter.acquire()
    # Lock files free at once; a Redis lease when its TTL runs out (1 s).
    assert time.monotonic() - started < 2


def test_a_rate_limit_halves_the_effective_concurrency(backend_spec):
    limiter = _limiter(backend_spec, max_concurrency=8, decrease_window=0, increase_seconds=3600)
    limiter.release(limiter.acquire(), outcome="rate_limited")
    assert limiter.effective_concurrency() == 4
    limiter.release(limiter.acquire(), outcome="rate_limited")
    assert limiter.effective_concurrency() == 2


def test_the_effective_concurrency_never_drops_below_one(backend_spec):
    limiter = _limiter(backend_spec, max_concurrency=2, decrease_window=0, increase_seconds=3600)
    for _ in range(3):
        limiter.release(limiter.acquire(), outcome="rate_limited")
    assert limiter.effective_concurrency() == 1


def test_a_burst_of_rate_limits_halves_only_once_per_window(backend_spec):
    limiter = _limiter(backend_spec, max_concurrency=8, decrease_window=30, increase_seconds=3600)
    leases = [limiter.acquire() for _ in range(3)]
    for lease in leases:
        limiter.release(lease, outcome="rate_limited")
    assert limiter.effective_concurrency() == 4


def test_the_window_between_decreases_is_at_least_the_retry_after(backend_spec):
    limiter = _limiter(backend_spec, max_concurrency=8, decrease_window=0, increase_seconds=3600)
    first, second = limiter.acquire(), limiter.acquire()
    limiter.release(first, outcome="rate_limited", retry_after=0.3)
    limiter.release(second, outcome="rate_limited", retry_after=0.3)  # within its window: no second halving
    assert limiter.effective_concurrency() == 4
    time.sleep(0.35)  # the pause is over, and so is the window
    limiter.release(limiter.acquire(), outcome="rate_limited")
    assert limiter.effective_concurrency() == 2


def test_the_limit_grows_back_one_slot_per_increase_period_by_the_clock(backend_spec):
    limiter = _limiter(backend_spec, max_concurrency=8, decrease_window=0, increase_seconds=0.5)
    limiter.release(limiter.acquire(), outcome="rate_limited")
    assert limiter.effective_concurrency() == 4
    time.sleep(1.1)  # no success needed: two periods passed (and less than three)
    assert limiter.effective_concurrency() == 6
    time.sleep(1.5)
    assert limiter.effective_concurrency() == 8  # back to the maximum, not beyond


def test_a_lowered_limit_admits_fewer_calls_in_every_process(backend_spec):
    first = _limiter(backend_spec, max_concurrency=4, decrease_window=0, increase_seconds=3600, acquire_timeout=0.1)
    for _ in range(2):
        first.release(first.acquire(), outcome="rate_limited")
    other = _limiter(backend_spec, max_concurrency=4, increase_seconds=3600, acquire_timeout=0.1)  # another worker's
    assert other.effective_concurrency() == 1
    other.acquire()
    with pytest.raises(ProviderError):
        other.acquire()


def test_a_429_with_retry_after_pauses_every_worker_for_that_long(backend_spec):
    limiter = _limiter(backend_spec, max_concurrency=4, acquire_timeout=5)
    limiter.release(limiter.acquire(), outcome="rate_limited", retry_after=0.6)
    other = _limiter(backend_spec, max_concurrency=4, acquire_timeout=5)  # another worker's limiter
    started = time.monotonic()
    other.release(other.acquire())
    assert 0.5 <= time.monotonic() - started < 2


def test_a_429_without_retry_after_does_not_pause(backend_spec):
    limiter = _limiter(backend_spec, max_concurrency=4, acquire_timeout=0.1)
    limiter.release(limiter.acquire(), outcome="rate_limited")
    limiter.release(limiter.acquire())  # no ProviderError: a slot at once


def test_the_context_manager_reports_a_429_with_its_retry_after(backend_spec):
    limiter = _limiter(backend_spec, max_concurrency=4, increase_seconds=3600, acquire_timeout=0.2)
    with pytest.raises(ProviderError), limiter:
        raise ProviderError("Too many requests", "rate_limit", status=429, retry_after=5)
    assert limiter.effective_concurrency() == 2
    with pytest.raises(ProviderError) as caught:
        limiter.acquire()  # paused for 5 s
    assert caught.value.kind == "rate_limit"


def test_other_errors_leave_the_effective_concurrency_alone(backend_spec):
    limiter = _limiter(backend_spec, max_concurrency=4, decrease_window=0)
    with pytest.raises(ProviderError), limiter:
        raise ProviderError("Server error", "server", status=500)
    assert limiter.effective_concurrency() == 4


def test_a_timed_out_call_keeps_its_slot_until_its_timeout_plus_a_margin(backend_spec):
    limiter = _limiter(backend_spec, max_concurrency=1, call_timeout=0.5, hold_margin=0.5, acquire_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(ProviderError), limiter:
        raise ProviderError("Timed out", "timeout")  # at once: held until 0.5 + 0.5 s from the start
    assert limiter.in_use() == 1
    with pytest.raises(ProviderError):
        limiter.acquire()
    limiter.acquire_timeout = 5
    limiter.acquire()
    assert 0.9 <= time.monotonic() - started < 2


def test_other_failures_free_their_slot_at_once(backend_spec):
    limiter = _limiter(backend_spec, max_concurrency=1, call_timeout=30, acquire_timeout=0.1)
    with pytest.raises(ProviderError), limiter:
        raise ProviderError("Server error", "server", status=500)
    assert limiter.in_use() == 0
    limiter.release(limiter.acquire())


def test_a_request_counts_against_the_rpm_from_when_its_call_ended(backend_spec):
    limiter = _limiter(backend_spec, rpm=1, rpm_window=0.5, acquire_timeout=5)
    started = time.monotonic()
    lease = limiter.acquire()
    time.sleep(0.3)  # the provider may have seen the request at any moment of the call
    limiter.release(lease, outcome="success")
    limiter.acquire()
    assert time.monotonic() - started >= 0.78


def test_a_long_call_counts_against_the_rpm_from_its_start_plus_the_arrival_margin(backend_spec):
    limiter = _limiter(backend_spec, rpm=1, rpm_window=0.5, arrival_margin=0.1, acquire_timeout=5)
    started = time.monotonic()
    lease = limiter.acquire()
    time.sleep(0.6)  # counted from its end, the next token would come at 1.1 s
    limiter.release(lease, outcome="timeout")
    limiter.acquire()
    assert 0.55 <= time.monotonic() - started < 1.0


def test_the_default_backend_is_redis_with_a_redis_url(settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    assert isinstance(default_backend(), RedisBackend)


def test_the_default_backend_is_lock_files_without_redis(settings, tmp_path):
    settings.REDIS_URL = ""
    settings.VAR_DIR = tmp_path
    backend = default_backend()
    assert isinstance(backend, FileBackend) and backend.directory == tmp_path / "limits"


def test_limiter_for_applies_the_configs_limits_and_is_shared():
    config = ProviderConfig(pk=42, name="openai", kind="openai", max_concurrency=7, rpm_limit=100, timeout_seconds=20)
    limiter = limiter_for(config)
    assert (limiter.key, limiter.max_concurrency, limiter.rpm, limiter.call_timeout) == ("provider-42", 7, 100, 20)
    assert limiter_for(config) is limiter


@pytest.fixture
def redis_spec():
    """Redis only: the file backend has no round trips to save."""
    yield from _redis_recipe()


def _count_round_trips(limiter) -> list:
    sent, execute = [], limiter.backend.client.execute_command

    def counted(*args, **options):
        sent.append(args[0])
        return execute(*args, **options)

    limiter.backend.client.execute_command = counted
    return sent


def test_a_threads_next_call_takes_one_round_trip_to_redis(redis_spec):
    limiter = _limiter(redis_spec, max_concurrency=2)
    with limiter:
        pass
    sent = _count_round_trips(limiter)
    for _ in range(20):
        with limiter:
            pass  # a call; its slot is freed by the next one's acquire, in the same script
    assert len(sent) == 20
    assert limiter.in_use() == 1  # the last one's, parked for a moment


def test_a_parked_slot_is_freed_when_no_call_comes_for_it(redis_spec):
    limiter = _limiter(redis_spec, max_concurrency=1)
    with limiter:
        pass
    other = _limiter(redis_spec, max_concurrency=1, acquire_timeout=2)  # another worker's limiter
    started = time.monotonic()
    other.acquire()
    assert time.monotonic() - started < 0.5


def test_a_parked_slot_does_not_outlive_its_limit(redis_spec):
    limiter = _limiter(redis_spec, max_concurrency=2, decrease_window=0, increase_seconds=3600, acquire_timeout=0.2)
    with limiter:
        pass  # parked
    limiter.release(limiter.acquire(), outcome="rate_limited")  # the limit drops to 1
    with limiter:  # swaps the parked slot for one within the new limit
        assert limiter.in_use() == 1
