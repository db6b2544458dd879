"""What every limits backend shares: the constants, a lease, and the policy's arithmetic."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

RPM_WINDOW_SECONDS = 60.0
DEFAULT_ACQUIRE_TIMEOUT = 300.0
LEASE_TTL_SECONDS = 10.0  # a dead process's slots come back within this (plus a waiter's next look)
LIVE_MARGIN_SECONDS = 30.0  # a live call keeps its slot up to its timeout plus this, then it is presumed stuck
HOLD_MARGIN_SECONDS = 2.0  # a timed-out call's slot stays taken until its timeout plus this, from its start
ARRIVAL_MARGIN_SECONDS = 2.0  # a request reaches the provider within this of its acquire
DECREASE_WINDOW_SECONDS = 5.0
INCREASE_SECONDS = 1.0
PARK_SECONDS = 0.02  # a successful call's slot waits this long for its thread's next call (RedisBackend.swap)
POLL_SECONDS = (0.005, 0.05)  # random sleep between attempts, so waiters do not move in lockstep
WAKE_WAIT_SECONDS = (0.1, 0.3)  # longest wait for a wake-up before looking again (Redis)


@dataclass
class Lease:
    token: str
    started: float = field(default_factory=time.monotonic)
    handle: Any = None  # the backend's hold on the slot (an open lock file for the file backend)
    slot: int = -1  # which lock file (file backend)
    parked_at: float = 0.0  # when its call ended, while it waits for its thread's next call


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
    hold_margin: float = HOLD_MARGIN_SECONDS
    arrival_margin: float = ARRIVAL_MARGIN_SECONDS

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
        return max(0.0, lease.started + self.call_timeout - time.monotonic()) + self.hold_margin


# The Redis scripts' shared part: the clock, and Policy.limit_at written again in Lua.
