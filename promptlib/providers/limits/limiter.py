"""The limiter around each call, and the process's shared limiter per provider."""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from promptlib.providers.base import ProviderError
from promptlib.providers.limits.file_backend import FileBackend
from promptlib.providers.limits.policy import (
    ARRIVAL_MARGIN_SECONDS,
    DECREASE_WINDOW_SECONDS,
    DEFAULT_ACQUIRE_TIMEOUT,
    HOLD_MARGIN_SECONDS,
    INCREASE_SECONDS,
    LEASE_TTL_SECONDS,
    PARK_SECONDS,
    POLL_SECONDS,
    RPM_WINDOW_SECONDS,
    Lease,
    Policy,
)
from promptlib.providers.limits.redis_backend import RedisBackend


@dataclass
class ProviderLimiter:
    """Limits for one provider key; a context manager around each call. Safe to share between threads.

    With a backend that can swap (Redis), the slot of a successful call is parked for PARK_SECONDS:
    the same thread's next call frees it and takes a slot in one round trip instead of two, and a
    thread of the limiter's own frees the slots that no call came for in time.
    """

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
    hold_margin: float = HOLD_MARGIN_SECONDS
    arrival_margin: float = ARRIVAL_MARGIN_SECONDS
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _parked: dict[int, Lease] = field(default_factory=dict, repr=False)  # thread id → its last call's slot
    _parking: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _parking_pid: int = field(default=0, repr=False)

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
            hold_margin=self.hold_margin,
            arrival_margin=self.arrival_margin,
        )

    def acquire(self, *, instead_of: Lease | None = None) -> Lease:
        """Wait for a slot (and an RPM token); a temporary ProviderError after `acquire_timeout` seconds.

        `instead_of`: a parked slot to free (a success) in the same round trip as the first try.
        """
        deadline = time.monotonic() + self.acquire_timeout
        while True:
            if instead_of is not None:
                attempt, instead_of = self.backend.swap(self.key, self.policy, instead_of), None
            else:
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
                pause = max(random.uniform(*POLL_SECONDS), min(attempt.wait_hint, 1.0))
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
        with self._parking:
            parked = self._parked.pop(threading.get_ident(), None) if self._parking_pid == os.getpid() else None
        leases.append(self.acquire(instead_of=parked))
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
        if outcome == "success" and hasattr(self.backend, "swap"):
            self._park(lease)
        else:
            self.release(lease, outcome=outcome, retry_after=retry_after)

    def _park(self, lease: Lease) -> None:
        lease.parked_at = time.monotonic()
        with self._parking:
            if self._parking_pid != os.getpid():  # new, or forked: the parent's thread and slots are not ours
                self._parking_pid, self._parked = os.getpid(), {}
                threading.Thread(target=self._free_parked, name=f"limits-parking-{self.key}", daemon=True).start()
            earlier = self._parked.pop(threading.get_ident(), None)  # nested calls in one thread
            self._parked[threading.get_ident()] = lease
            if len(self._parked) == 1:  # the thread waits without a deadline only when none was parked
                self._parking.notify()
        if earlier is not None:
            self.release(earlier, outcome="success")

    def _free_parked(self) -> None:
        """The parking's thread: frees the slots that waited PARK_SECONDS for a call in vain."""
        while True:
            with self._parking:
                if not self._parked:
                    self._parking.wait()
                    continue
                now = time.monotonic()
                due = [thread for thread, lease in self._parked.items() if lease.parked_at + PARK_SECONDS <= now]
                if not due:
                    self._parking.wait(min(lease.parked_at for lease in self._parked.values()) + PARK_SECONDS - now)
                    continue
                leases = [self._parked.pop(thread) for thread in due]
            for lease in leases:
                with contextlib.suppress(Exception):  # Redis away: the lease runs out by itself (lease_ttl)
                    self.release(lease, outcome="success")


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
