"""The limiter around each call, and the process's shared limiter per provider."""

from __future__ import annotations

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
    POLL_SECONDS,
    RPM_WINDOW_SECONDS,
    Lease,
    Policy,
)
from promptlib.providers.limits.redis_backend import RedisBackend


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
    hold_margin: float = HOLD_MARGIN_SECONDS
    arrival_margin: float = ARRIVAL_MARGIN_SECONDS
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
            hold_margin=self.hold_margin,
            arrival_margin=self.arrival_margin,
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
