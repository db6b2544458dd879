"""Per-provider limits that hold across every worker process: calls in flight, and requests per minute.

    limiter = limiter_for(config)
    with limiter:                 # waits for a slot (and an RPM token); ProviderError "rate_limit" on timeout
        response = provider.complete(request)

Leaving the block reports the outcome: a ProviderError of kind "rate_limit" (an HTTP 429) halves the
effective concurrency (at most once per `decrease_cooldown` seconds, never below 1), and every
`increase_every` successes raise it by one again, up to `max_concurrency` (AIMD). That state is shared
by all workers too.

Two backends:
- Redis (when settings.REDIS_URL is set): leases are members of a sorted set scored by their expiry,
  so the slot of a killed worker frees itself after `lease_seconds`; RPM is a sliding window of the
  last minute's request times. Lua scripts make each step atomic; Redis's clock is the only clock.
- Files (no Redis; one machine): a slot is an exclusive flock on one of `max_concurrency` lock files,
  which the kernel drops when the holder dies; RPM and AIMD state live in one JSON file updated
  under its own flock.
"""

from __future__ import annotations

import fcntl
import json
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
_POLL_SECONDS = (0.005, 0.05)  # random sleep between attempts, so waiters do not move in lockstep
_WAKE_WAIT_SECONDS = (0.1, 0.3)  # longest wait for a wake-up before looking again (Redis)


@dataclass
class Lease:
    token: str
    handle: Any = None  # the backend's hold on the slot (an open lock file for the file backend)


@dataclass
class Attempt:
    lease: Lease | None
    wait_hint: float = 0.0  # seconds until an RPM token frees up, when that is the obstacle


@dataclass
class Policy:
    max_concurrency: int
    rpm: int = 0
    lease_seconds: float = 90.0
    increase_every: int = 10
    decrease_cooldown: float = 1.0
    rpm_window: float = RPM_WINDOW_SECONDS  # shorter only in tests


class RedisBackend:
    _ACQUIRE = """
    local t = redis.call('TIME')
    local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
    local max = tonumber(ARGV[2])
    local limit = math.min(tonumber(redis.call('HGET', KEYS[3], 'limit') or max), max)
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
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
    redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[4])) + 60)
    return {1, '0'}
    """
    # ARGV: token, outcome ("success" | "rate_limited" | "other"), max, increase_every, cooldown.
    # A released slot also pushes a wake-up onto KEYS[3], which one waiter pops (BLPOP) to try at once
    # instead of polling; the list is trimmed, so wake-ups nobody waited for cost at most a few retries.
    _RELEASE = """
    redis.call('ZREM', KEYS[1], ARGV[1])
    redis.call('RPUSH', KEYS[3], '1')
    redis.call('LTRIM', KEYS[3], -tonumber(ARGV[3]), -1)
    redis.call('EXPIRE', KEYS[3], 60)
    local max = tonumber(ARGV[3])
    local limit = math.min(tonumber(redis.call('HGET', KEYS[2], 'limit') or max), max)
    if ARGV[2] == 'rate_limited' then
        local t = redis.call('TIME')
        local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
        local last = tonumber(redis.call('HGET', KEYS[2], 'last_decrease') or 0)
        if now - last >= tonumber(ARGV[5]) then
            limit = math.max(1, math.floor(limit / 2))
            redis.call('HSET', KEYS[2], 'limit', limit, 'last_decrease', tostring(now), 'successes', 0)
            redis.call('EXPIRE', KEYS[2], 3600)
        end
    elseif ARGV[2] == 'success' and limit < max then
        if redis.call('HINCRBY', KEYS[2], 'successes', 1) >= tonumber(ARGV[4]) then
            limit = limit + 1
            redis.call('HSET', KEYS[2], 'limit', limit, 'successes', 0)
        end
        redis.call('EXPIRE', KEYS[2], 3600)
    end
    return limit
    """

    def __init__(self, url: str, prefix: str = "promptlib:limits") -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.prefix = prefix
        self._acquire = self.client.register_script(self._ACQUIRE)
        self._release = self.client.register_script(self._RELEASE)

    def _keys(self, key: str) -> tuple[str, str, str]:
        base = f"{self.prefix}:{{{key}}}"  # one hash slot, should this ever run on Redis Cluster
        return f"{base}:leases", f"{base}:rpm", f"{base}:aimd"

    def _wake_key(self, key: str) -> str:
        return f"{self.prefix}:{{{key}}}:wake"

    def try_acquire(self, key: str, policy: Policy) -> Attempt:
        token = uuid.uuid4().hex
        args = [token, policy.max_concurrency, policy.rpm, policy.lease_seconds, policy.rpm_window]
        ok, wait = self._acquire(keys=self._keys(key), args=args)
        return Attempt(Lease(token) if int(ok) else None, float(wait))

    def release(self, key: str, policy: Policy, lease: Lease, outcome: str) -> int:
        leases, _, aimd = self._keys(key)
        args = [lease.token, outcome, policy.max_concurrency, policy.increase_every, policy.decrease_cooldown]
        return int(self._release(keys=[leases, aimd, self._wake_key(key)], args=args))

    def wait_for_release(self, key: str, timeout: float) -> None:
        """Block until a slot is released (or `timeout` seconds pass): a waiter then tries again at once."""
        # A lease that expires (its worker died) wakes nobody: waiters also look again now and then.
        self.client.blpop([self._wake_key(key)], timeout=max(min(timeout, random.uniform(*_WAKE_WAIT_SECONDS)), 0.01))

    def effective_concurrency(self, key: str, policy: Policy) -> int:
        stored = self.client.hget(self._keys(key)[2], "limit")
        return min(int(stored), policy.max_concurrency) if stored else policy.max_concurrency

    def reset(self, key: str) -> None:
        self.client.delete(*self._keys(key), self._wake_key(key))


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
            limit = min(state.data.get("limit", policy.max_concurrency), policy.max_concurrency)
            now = time.time()
            if policy.rpm:
                recent = [t for t in state.data.get("rpm", []) if t > now - policy.rpm_window]
                if len(recent) >= policy.rpm:
                    return Attempt(None, recent[0] + policy.rpm_window - now)
            handle = _lock_first_free_slot(directory, limit)
            if handle is None:
                return Attempt(None)
            if policy.rpm:
                state.data["rpm"] = [*recent, now]
                state.changed = True
        return Attempt(Lease(uuid.uuid4().hex, handle))

    def release(self, key: str, policy: Policy, lease: Lease, outcome: str) -> int:
        os.close(lease.handle)  # closing the file drops the flock: the slot is free
        with self._locked_state(key) as state:
            data = state.data
            limit = min(data.get("limit", policy.max_concurrency), policy.max_concurrency)
            now = time.time()
            if outcome == "rate_limited" and now - data.get("last_decrease", 0) >= policy.decrease_cooldown:
                limit = max(1, limit // 2)
                data.update(limit=limit, last_decrease=now, successes=0)
                state.changed = True
            elif outcome == "success" and limit < policy.max_concurrency:
                data["successes"] = data.get("successes", 0) + 1
                if data["successes"] >= policy.increase_every:
                    limit += 1
                    data.update(limit=limit, successes=0)
                state.changed = True
        return limit

    def effective_concurrency(self, key: str, policy: Policy) -> int:
        with self._locked_state(key) as state:
            return min(state.data.get("limit", policy.max_concurrency), policy.max_concurrency)

    def reset(self, key: str) -> None:
        with self._locked_state(key) as state:
            state.data = {}
            state.changed = True


def _lock_first_free_slot(directory: Path, limit: int) -> int | None:
    for slot in range(limit):
        fd = os.open(directory / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # flock (not lockf): held per open file, so threads of one process exclude each other too.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return fd
    return None


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
    lease_seconds: float = 90.0  # must exceed the longest call: the provider timeout plus a margin
    acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT
    increase_every: int = 10
    decrease_cooldown: float = 1.0
    rpm_window: float = RPM_WINDOW_SECONDS  # "per minute"; shorter only in tests
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def __post_init__(self) -> None:
        if self.backend is None:
            self.backend = default_backend()
        self.policy = Policy(
            max_concurrency=max(1, self.max_concurrency),
            rpm=max(0, self.rpm),
            lease_seconds=self.lease_seconds,
            increase_every=self.increase_every,
            decrease_cooldown=self.decrease_cooldown,
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
            if attempt.wait_hint > 0:  # an RPM token frees up then; a released slot would not help sooner
                pause = max(random.uniform(*_POLL_SECONDS), min(attempt.wait_hint, 1.0))
                time.sleep(min(pause, remaining))
            else:
                self.backend.wait_for_release(self.key, remaining)

    def release(self, lease: Lease, *, outcome: str = "other") -> int:
        """Free the slot and report the outcome ("success", "rate_limited", "other"); returns the new limit."""
        return self.backend.release(self.key, self.policy, lease, outcome)

    def effective_concurrency(self) -> int:
        return self.backend.effective_concurrency(self.key, self.policy)

    def reset(self) -> None:
        """Forget the adaptive state (back to max_concurrency)."""
        self.backend.reset(self.key)

    def __enter__(self) -> ProviderLimiter:
        leases = self._local.__dict__.setdefault("leases", [])
        leases.append(self.acquire())
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        lease = self._local.leases.pop()
        if exc is None:
            outcome = "success"
        elif isinstance(exc, ProviderError) and exc.kind == "rate_limit":
            outcome = "rate_limited"
        else:
            outcome = "other"
        self.release(lease, outcome=outcome)


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
    lease_seconds = float(config.timeout_seconds) + 30
    key = (os.getpid(), limiter_key(config), config.max_concurrency, config.rpm_limit, lease_seconds)
    with _lock:
        limiter = _limiters.get(key)
    if limiter is None:
        limiter = ProviderLimiter(
            key=limiter_key(config),
            max_concurrency=config.max_concurrency,
            rpm=config.rpm_limit,
            lease_seconds=lease_seconds,
            acquire_timeout=acquire_timeout,
        )
        with _lock:
            limiter = _limiters.setdefault(key, limiter)
    return limiter
