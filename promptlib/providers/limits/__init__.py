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

Modules: policy.py (constants, Lease, Policy's arithmetic), limiter.py (ProviderLimiter, limiter_for),
redis_backend.py and file_backend.py. Two backends:
- Redis (when settings.REDIS_URL is set): slots are members of a sorted set scored by their expiry.
  Leases are short (`lease_ttl`, 10 s) and one heartbeat thread per process renews all of its
  process's leases every ttl/3 (a round trip per provider per beat, none per call), up to the call's
  timeout + LIVE_MARGIN_SECONDS: the slots of a killed worker come back within the TTL, while a live
  hung call keeps its slot. Lua scripts make each step atomic; Redis's clock is the only clock.
- Files (no Redis; one machine): a slot is an exclusive flock on one of `max_concurrency` lock files,
  which the kernel drops when the holder dies; RPM, pause, AIMD state and timed-out slots still held
  live in one JSON file updated under its own flock.
"""

from promptlib.providers.limits.file_backend import FileBackend
from promptlib.providers.limits.limiter import ProviderLimiter, default_backend, limiter_for, limiter_key
from promptlib.providers.limits.policy import Attempt, Lease, Policy
from promptlib.providers.limits.redis_backend import RedisBackend

__all__ = [
    "Attempt",
    "FileBackend",
    "Lease",
    "Policy",
    "ProviderLimiter",
    "RedisBackend",
    "default_backend",
    "limiter_for",
    "limiter_key",
]
