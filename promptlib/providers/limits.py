"""Per-provider limits that hold across every worker process: calls in flight, and requests per minute.

    limiter = limiter_for(config)
    with limiter:                 # waits for a slot (and an RPM token); ProviderError "rate_limit" on timeout
        response = provider.complete(request)

Leaving the block reports the outcome, which steers limits that every worker shares:
- A 429 (ProviderError "rate_limit") with Retry-After pauses the provider for that long: no worker
  starts a call until then. A 429 also halves the effective concurrency, but at most once per
  decrease window, max(Retry-After, `decrease_window` = 5 s): a burst of 429s is one signal, and a
  steady 10% of them costs one halving per window, not one per hit. The limit then grows back by one
  slot per `increase_seconds` (1 s) by the clock, not by counting successes, so it recovers even when
  hung calls hold every slot it left (additive increase, multiplicative decrease).
- A timeout keeps its slot until the provider's timeout plus HOLD_MARGIN_SECONDS from the call's
  start: we stopped waiting, but the provider may still be working on it.

RPM is a sliding window of request times. A request reaches the provider a little after our acquire,
so each time is moved, when its call ends, to min(end, acquire + ARRIVAL_MARGIN_SECONDS): in no
window of its own does the provider see more than `rpm` requests (the cost: one call's latency per
token), and a long hang does not keep its token for its whole duration.

Two backends:
- Redis (when settings.REDIS_URL is set): slots are members of a sorted set scored by their expiry.
  Leases are short (`lease_ttl`, 10 s) and one heartbeat thread per process renews all of its
  process's leases every ttl/3 (a round trip per provider per beat, none per call), up to the call's
  timeout + LIVE_MARGIN_SECONDS: the slots of a killed worker come back within the TTL, while a live
  hung call keeps its slot. Lua scripts make each step atomic; Redis's clock is the only clock.
- Files (no Redis; one machine): a slot is an exclusive flock on one of `max_concurrency` lock files,
  which the kernel drops when the holder dies; RPM, pause, AIMD state and timed-out slots still held
  live in one JSON file updated under its own flock.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from promptlib.providers.base import ProviderError

RPM_WINDOW_SECONDS = 60.0
DEFAULT_ACQUIRE_TIMEOUT = 300.0
LEASE_TTL_SECONDS = 10.0  # a dead process's slots come back within this (plus a waiter's next look)
LIVE_MARGIN_SECONDS = 30.0  # a live call keeps its slot up to its timeout plus this, then it is presumed stuck
HOLD_MARGIN_SECONDS = 2.0  # a timed-out call's slot stays taken until its timeout plus this, from its start
ARRIVAL_MARGIN_SECONDS = 2.0  # a request reaches the provider within this of its acquire
DECREASE_WINDOW_SECONDS = 5.0
INCREASE_SECONDS = 1.0
_POLL_SECONDS = (0.005, 0.05)  # random sleep between attempts, so waiters do not move in lockstep
_WAKE_WAIT_SECONDS = (0.1, 0.3)  # longest wait for a wake-up before looking again (Redis)


@dataclass
class Lease:
    token: str
    started: float = field(default_factory=time.monotonic)
    handle: Any = None  # the backend's hold on the slot (an open lock file for the file backend)
    slot: int = -1  # which lock file (file backend)


@dataclass
class Attempt:
    lease: Lease | None
    wait_hint: float = 0.0  # seconds until an RPM token frees up or a pause ends, when that is the obstacle


@dataclass
class Policy:
    max_concurrency: int
    rpm: int = 0
    call_timeout: float = 60.0  # the provider's timeout
    lease_ttl: float = LEASE_TTL_SECONDS
    increase_seconds: float = INCREASE_SECONDS
    decrease_window: float = DECREASE_WINDOW_SECONDS
    rpm_window: float = RPM_WINDOW_SECONDS  # shorter only in tests

    def limit_at(self, state: dict, now: float) -> int:
        """The effective concurrency: halved at the last decrease, one more per `increase_seconds` since."""
        if "floor" not in state:
            return self.max_concurrency
        grown = state["floor"] + (now - state["decreased_at"]) / self.increase_seconds
        return max(1, min(self.max_concurrency, math.floor(grown)))

    def live_deadline(self, lease: Lease) -> float:
        return lease.started + self.call_timeout + LIVE_MARGIN_SECONDS

    def hold_for(self, lease: Lease, outcome: str) -> float:
        """Seconds a finished call keeps its slot: a timed-out one until its timeout + margin from its start."""
        if outcome != "timeout":
            return 0.0
        return max(0.0, lease.started + self.call_timeout - time.monotonic()) + HOLD_MARGIN_SECONDS


# The Redis scripts' shared part: the clock, and Policy.limit_at written again in Lua.
_LUA_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function limit_at(state, max, step)
    local floor, at = tonumber(state[1]), tonumber(state[2])
    if not floor then return max end
    return math.max(1, math.min(max, math.floor(floor + (now - at) / step)))
end
"""


class RedisBackend:
    # KEYS: leases, rpm, state. ARGV: token, max, rpm, ttl, window, increase_seconds.
    _ACQUIRE = """
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
    local state = redis.call('HMGET', KEYS[3], 'floor', 'decreased_at', 'paused_until')
    local paused = tonumber(state[3])
    if paused and paused > now then return {0, tostring(paused - now)} end
    local limit = limit_at(state, tonumber(ARGV[2]), tonumber(ARGV[6]))
    if redis.call('ZCARD', KEYS[1]) >= limit then return {0, '0'} end
    local rpm = tonumber(ARGV[3])
    if rpm > 0 then
        local window = tonumber(ARGV[5])
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
        if redis.call('ZCARD', KEYS[2]) >= rpm then
            local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
            return {0, tostring(tonumber(oldest[2]) + window - now)}
        end
        redis.call('ZADD', KEYS[2], now, ARGV[1])
        redis.call('EXPIRE', KEYS[2], math.ceil(window) + 60)
    end
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])
    redis.call('EXPIRE', KEYS[1], 3600)
    return {1, '0'}
    """
    # KEYS: leases, rpm, state, wake. ARGV: token, outcome ("success" | "rate_limited" | "timeout" |
    # "other"), max, hold, retry_after, increase_seconds, decrease_window, arrival_margin.
    # A freed slot also pushes a wake-up onto KEYS[4], which one waiter pops (BLPOP) to try at once
    # instead of polling; the list is trimmed, so wake-ups nobody waited for cost at most a few retries.
    _RELEASE = """
    local token, max, hold = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
    if hold > 0 then
        redis.call('ZADD', KEYS[1], 'XX', now + hold, token)
    else
        redis.call('ZREM', KEYS[1], token)
        redis.call('RPUSH', KEYS[4], '1')
        redis.call('LTRIM', KEYS[4], -max, -1)
        redis.call('EXPIRE', KEYS[4], 60)
    end
    local sent = redis.call('ZSCORE', KEYS[2], token)
    if sent then
        redis.call('ZADD', KEYS[2], 'XX', math.min(now, tonumber(sent) + tonumber(ARGV[8])), token)
    end
    local state = redis.call('HMGET', KEYS[3], 'floor', 'decreased_at', 'paused_until', 'decrease_after')
    local limit = limit_at(state, max, tonumber(ARGV[6]))
    if ARGV[2] == 'rate_limited' then
        local wait = tonumber(ARGV[5])
        if wait > 0 and now + wait > (tonumber(state[3]) or 0) then
            redis.call('HSET', KEYS[3], 'paused_until', tostring(now + wait))
        end
        if now >= (tonumber(state[4]) or 0) then
            limit = math.max(1, math.floor(limit / 2))
            local after = now + math.max(wait, tonumber(ARGV[7]))
            redis.call('HSET', KEYS[3], 'floor', limit, 'decreased_at', tostring(now),
                'decrease_after', tostring(after))
        end
        redis.call('EXPIRE', KEYS[3], 3600)
    end
    return limit
    """
    # KEYS: leases. ARGV: ttl, then (token, seconds it may still be renewed) pairs. XX: a released
    # lease stays released.
    _RENEW = """
    local ttl = tonumber(ARGV[1])
    for i = 2, #ARGV, 2 do
        redis.call('ZADD', KEYS[1], 'XX', now + math.min(ttl, tonumber(ARGV[i + 1])), ARGV[i])
    end
    redis.call('EXPIRE', KEYS[1], 3600)
    """
    _STATE = """
    local state = redis.call('HMGET', KEYS[1], 'floor', 'decreased_at')
    return limit_at(state, tonumber(ARGV[1]), tonumber(ARGV[2]))
    """

    def __init__(self, url: str, prefix: str = "promptlib:limits") -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.prefix = prefix
        self._acquire = self.client.register_script(_LUA_PRELUDE + self._ACQUIRE)
        self._release = self.client.register_script(_LUA_PRELUDE + self._RELEASE)
        self._renew = self.client.register_script(_LUA_PRELUDE + self._RENEW)
        self._state = self.client.register_script(_LUA_PRELUDE + self._STATE)
        self.heartbeat = _Heartbeat(self._renew_leases)

    def _keys(self, key: str) -> tuple[str, str, str]:
        base = f"{self.prefix}:{{{key}}}"  # one hash slot, should this ever run on Redis Cluster
        return f"{base}:leases", f"{base}:rpm", f"{base}:aimd"

    def _wake_key(self, key: str) -> str:
        return f"{self.prefix}:{{{key}}}:wake"

    def try_acquire(self, key: str, policy: Policy) -> Attempt:
        token = uuid.uuid4().hex
        args = [token, policy.max_concurrency, policy.rpm, policy.lease_ttl, policy.rpm_window, policy.increase_seconds]
        ok, wait = self._acquire(keys=self._keys(key), args=args)
        if not int(ok):
            return Attempt(None, float(wait))
        lease = Lease(token)
        self.heartbeat.add((key, policy.lease_ttl), token, policy.live_deadline(lease))
        return Attempt(lease)

    def release(self, key: str, policy: Policy, lease: Lease, outcome: str, *, hold: float, retry_after: float) -> int:
        self.heartbeat.discard((key, policy.lease_ttl), lease.token)
        args = [lease.token, outcome, policy.max_concurrency, hold, retry_after, policy.increase_seconds,
                policy.decrease_window, ARRIVAL_MARGIN_SECONDS]  # fmt: skip
        return int(self._release(keys=[*self._keys(key), self._wake_key(key)], args=args))

    def _renew_leases(self, key: tuple[str, float], tokens: list[tuple[str, float]]) -> None:
        name, ttl = key
        self._renew(keys=[self._keys(name)[0]], args=[ttl, *(value for pair in tokens for value in pair)])

    def wait_for_release(self, key: str, timeout: float) -> None:
        """Block until a slot is released (or `timeout` seconds pass): a waiter then tries again at once."""
        # A lease that expires (its worker died) wakes nobody: waiters also look again now and then.
        self.client.blpop([self._wake_key(key)], timeout=max(min(timeout, random.uniform(*_WAKE_WAIT_SECONDS)), 0.01))

    def effective_concurrency(self, key: str, policy: Policy) -> int:
        return int(self._state(keys=[self._keys(key)[2]], args=[policy.max_concurrency, policy.increase_seconds]))

    def in_use(self, key: str) -> int:
        """Slots taken now (live leases and timed-out calls still held)."""
        leases = self._keys(key)[0]
        seconds, micros = self.client.time()
        return int(self.client.zcount(leases, f"({seconds + micros / 1e6}", "+inf"))

    def reset(self, key: str) -> None:
        self.client.delete(*self._keys(key), self._wake_key(key))


class _Heartbeat:
    """One thread per process renewing the leases of its calls in flight (Redis backend)."""

    def __init__(self, renew) -> None:
        self.renew = renew
        self.lock = threading.Lock()
        self.held: dict[tuple[str, float], dict[str, float]] = {}  # (key, ttl) → token → deadline (monotonic)
        self.pid = 0

    def add(self, key: tuple[str, float], token: str, deadline: float) -> None:
        with self.lock:
            if self.pid != os.getpid():  # new, or forked: threads do not survive a fork, nor do its leases
                self.pid, self.held = os.getpid(), {}
                threading.Thread(target=self._run, name="promptlib-limits-heartbeat", daemon=True).start()
            self.held.setdefault(key, {})[token] = deadline

    def discard(self, key: tuple[str, float], token: str) -> None:
        with self.lock:
            tokens = self.held.get(key)
            if tokens is not None:
                tokens.pop(token, None)

    def _run(self) -> None:
        while True:
            with self.lock:
                interval = min((ttl for _, ttl in self.held), default=LEASE_TTL_SECONDS) / 3
            time.sleep(interval)
            now = time.monotonic()
            with self.lock:
                beats = {key: [(t, d - now) for t, d in tokens.items() if d > now] for key, tokens in self.held.items()}
            for key, tokens in beats.items():
                if not tokens:
                    continue
                try:
                    self.renew(key, tokens)
                except Exception:  # noqa: BLE001, S112 — Redis away for a moment: the next beat tries again
                    continue


class FileBackend:
    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def _dir(self, key: str) -> Path:
        path = self.directory / re.sub(r"[^A-Za-z0-9_.-]", "_", key)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _locked_state(self, key: str):
        return _StateFile(self._dir(key) / "state.json")

    def wait_for_release(self, key: str, timeout: float) -> None:
        time.sleep(min(timeout, random.uniform(*_POLL_SECONDS)))  # lock files have no wake-up: poll

    def try_acquire(self, key: str, policy: Policy) -> Attempt:
        directory = self._dir(key)
        with self._locked_state(key) as state:
            data, now = state.data, time.time()
            if data.get("paused_until", 0) > now:
                return Attempt(None, data["paused_until"] - now)
            if policy.rpm:
                recent = {t: at for t, at in data.get("rpm", {}).items() if at > now - policy.rpm_window}
                if len(recent) >= policy.rpm:
                    return Attempt(None, min(recent.values()) + policy.rpm_window - now)
            holds = {slot: until for slot, until in data.get("holds", {}).items() if until > now}
            slot, handle = _lock_first_free_slot(directory, policy.limit_at(data, now), holds)
            if handle is None:
                return Attempt(None)
            lease = Lease(uuid.uuid4().hex, handle=handle, slot=slot)
            if policy.rpm:
                data["rpm"] = {**recent, lease.token: now}
                state.changed = True
            if holds != data.get("holds", {}):
                data["holds"] = holds
                state.changed = True
        return Attempt(lease)

    def release(self, key: str, policy: Policy, lease: Lease, outcome: str, *, hold: float, retry_after: float) -> int:
        with self._locked_state(key) as state:
            data, now = state.data, time.time()
            if hold > 0:  # recorded before the flock goes, under the state's lock that acquirers take
                data.setdefault("holds", {})[str(lease.slot)] = now + hold
                state.changed = True
            os.close(lease.handle)  # closing the file drops the flock
            sent = data.get("rpm", {}).get(lease.token)
            if sent is not None:
                data["rpm"][lease.token] = min(now, sent + ARRIVAL_MARGIN_SECONDS)
                state.changed = True
            limit = policy.limit_at(data, now)
            if outcome == "rate_limited":
                if retry_after > 0 and now + retry_after > data.get("paused_until", 0):
                    data["paused_until"] = now + retry_after
                if now >= data.get("decrease_after", 0):
                    limit = max(1, limit // 2)
                    after = now + max(retry_after, policy.decrease_window)
                    data.update(floor=limit, decreased_at=now, decrease_after=after)
                state.changed = True
        return limit

    def effective_concurrency(self, key: str, policy: Policy) -> int:
        with self._locked_state(key) as state:
            return policy.limit_at(state.data, time.time())

    def in_use(self, key: str) -> int:
        """Slots taken now (flocked, or held for a timed-out call)."""
        directory = self._dir(key)
        with self._locked_state(key) as state:
            now = time.time()
            held = {int(slot) for slot, until in state.data.get("holds", {}).items() if until > now}
        taken = set(held)
        for path in directory.glob("slot-*.lock"):
            slot = int(path.stem.split("-")[1])
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                taken.add(slot)
            finally:
                os.close(fd)
        return len(taken)

    def reset(self, key: str) -> None:
        with self._locked_state(key) as state:
            state.data = {}
            state.changed = True


def _lock_first_free_slot(directory: Path, limit: int, holds: dict[str, float]) -> tuple[int, int | None]:
    for slot in range(limit):
        if str(slot) in holds:
            continue  # a timed-out call's, which the provider may still be working on
        fd = os.open(directory / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # flock (not lockf): held per open file, so threads of one process exclude each other too.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return slot, fd
    return -1, None


class _StateFile:
    """A JSON file read and written under an exclusive flock, as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {}
        self.changed = False

    def __enter__(self) -> _StateFile:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        raw = os.read(self.fd, 1 << 20)
        try:
            self.data = json.loads(raw) if raw else {}
        except ValueError:
            self.data = {}  # a torn write from a killed process: start over rather than fail forever
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.changed:
                os.lseek(self.fd, 0, os.SEEK_SET)
                os.truncate(self.fd, 0)
                os.write(self.fd, json.dumps(self.data).encode())
        finally:
            os.close(self.fd)


@dataclass
class ProviderLimiter:
    """Limits for one provider key; a context manager around each call. Safe to share between threads."""

    key: str
    max_concurrency: int
    rpm: int = 0
    backend: Any = None  # RedisBackend | FileBackend; default_backend() when None
    call_timeout: float = 60.0  # the provider's timeout (see Policy.hold_for, Policy.live_deadline)
    acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT
    lease_ttl: float = LEASE_TTL_SECONDS
    increase_seconds: float = INCREASE_SECONDS
    decrease_window: float = DECREASE_WINDOW_SECONDS
    rpm_window: float = RPM_WINDOW_SECONDS  # "per minute"; shorter only in tests
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def __post_init__(self) -> None:
        if self.backend is None:
            self.backend = default_backend()
        self.policy = Policy(
            max_concurrency=max(1, self.max_concurrency),
            rpm=max(0, self.rpm),
            call_timeout=self.call_timeout,
            lease_ttl=self.lease_ttl,
            increase_seconds=self.increase_seconds,
            decrease_window=self.decrease_window,
            rpm_window=self.rpm_window,
        )

    def acquire(self) -> Lease:
        """Wait for a slot (and an RPM token); a temporary ProviderError after `acquire_timeout` seconds."""
        deadline = time.monotonic() + self.acquire_timeout
        while True:
            attempt = self.backend.try_acquire(self.key, self.policy)
            if attempt.lease is not None:
                return attempt.lease
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProviderError(
                    f"No free slot for provider '{self.key}' within {self.acquire_timeout:g}s "
                    f"(max {self.policy.max_concurrency} in flight, {self.policy.rpm or 'unlimited'} per minute).",
                    "rate_limit",
                )
            if attempt.wait_hint > 0:  # an RPM token frees up (or a pause ends) then; a released slot would not help
                pause = max(random.uniform(*_POLL_SECONDS), min(attempt.wait_hint, 1.0))
                time.sleep(min(pause, remaining))
            else:
                self.backend.wait_for_release(self.key, remaining)

    def release(self, lease: Lease, *, outcome: str = "other", retry_after: float | None = None) -> int:
        """Free the slot and report the outcome ("success", "rate_limited", "timeout", "other"); returns
        the effective concurrency. A timed-out call's slot stays taken (Policy.hold_for)."""
        hold = self.policy.hold_for(lease, outcome)
        return self.backend.release(self.key, self.policy, lease, outcome, hold=hold, retry_after=retry_after or 0.0)

    def effective_concurrency(self) -> int:
        return self.backend.effective_concurrency(self.key, self.policy)

    def in_use(self) -> int:
        return self.backend.in_use(self.key)

    def reset(self) -> None:
        """Forget the adaptive state (back to max_concurrency, no pause) and every lease."""
        self.backend.reset(self.key)

    def __enter__(self) -> ProviderLimiter:
        leases = self._local.__dict__.setdefault("leases", [])
        leases.append(self.acquire())
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        lease = self._local.leases.pop()
        outcome, retry_after = "other", None
        if exc is None:
            outcome = "success"
        elif isinstance(exc, ProviderError) and exc.kind == "rate_limit":
            outcome, retry_after = "rate_limited", exc.retry_after
        elif isinstance(exc, ProviderError) and exc.kind == "timeout":
            outcome = "timeout"
        self.release(lease, outcome=outcome, retry_after=retry_after)


_backends: dict[tuple, Any] = {}
_limiters: dict[tuple, ProviderLimiter] = {}
_lock = threading.Lock()


def default_backend() -> RedisBackend | FileBackend:
    """Redis when settings.REDIS_URL is set, else lock files under settings.VAR_DIR / "limits"."""
    url = getattr(settings, "REDIS_URL", "")
    # Limiter keys name providers by primary key, so they are only unique within one database: two
    # databases (a benchmark, a test run) sharing a Redis must not share (or reset) each other's slots.
    prefix = f"promptlib:limits:{Path(str(settings.DATABASES['default']['NAME'])).name}"
    key = (os.getpid(), url or str(settings.VAR_DIR), prefix)
    with _lock:
        if key not in _backends:
            _backends[key] = RedisBackend(url, prefix=prefix) if url else FileBackend(Path(settings.VAR_DIR) / "limits")
        return _backends[key]


def limiter_key(config) -> str:
    return f"provider-{config.pk}" if config.pk else f"provider-{config.name}"


def limiter_for(config) -> ProviderLimiter:
    """The process's shared limiter for a ProviderConfig (its concurrency, RPM and timeout)."""
    acquire_timeout = float(getattr(settings, "PROMPTLIB_LIMIT_ACQUIRE_TIMEOUT", DEFAULT_ACQUIRE_TIMEOUT))
    call_timeout = float(config.timeout_seconds)
    key = (os.getpid(), limiter_key(config), config.max_concurrency, config.rpm_limit, call_timeout)
    with _lock:
        limiter = _limiters.get(key)
    if limiter is None:
        limiter = ProviderLimiter(
            key=limiter_key(config),
            max_concurrency=config.max_concurrency,
            rpm=config.rpm_limit,
            call_timeout=call_timeout,
            acquire_timeout=acquire_timeout,
        )
        with _lock:
            limiter = _limiters.setdefault(key, limiter)
    return limiter
