"""The Redis backend: slots, RPM window and AIMD state in keys per provider, each step one Lua script.

Slots are members of a sorted set scored by their expiry: short leases (Policy.lease_ttl) that one
heartbeat thread per process renews while its calls run, so a killed worker's slots come back
within the TTL. Redis's clock is the only clock.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
import uuid

from promptlib.providers.limits.policy import (
    LEASE_TTL_SECONDS,
    WAKE_WAIT_SECONDS,
    Attempt,
    Lease,
    Policy,
)

# Every script starts with these: the clock, Policy.limit_at written again in Lua, and the steps the
# scripts share. KEYS, in every script that takes a slot or frees one: leases, rpm, state, wake.
_LUA_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function limit_at(state, max, step)
    local floor, at = tonumber(state[1]), tonumber(state[2])
    if not floor then return max end
    return math.max(1, math.min(max, math.floor(floor + (now - at) / step)))
end
-- Take a slot (and an RPM token): {1, '0'}, or {0, seconds until a token frees or the pause ends}.
local function take(token, max, rpm, ttl, window, step, margin)
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
    local state = redis.call('HMGET', KEYS[3], 'floor', 'decreased_at', 'paused_until')
    local paused = tonumber(state[3])
    if paused and paused > now then return {0, tostring(paused - now)} end
    if redis.call('ZCARD', KEYS[1]) >= limit_at(state, max, step) then return {0, '0'} end
    if rpm > 0 then
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
        if redis.call('ZCARD', KEYS[2]) >= rpm then
            local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
            return {0, tostring(tonumber(oldest[2]) + window - now)}
        end
        -- Counted as if it reached the provider as late as it may (now + margin) until its call ends:
        -- a request still in flight never drops out of the window before the provider's own one.
        redis.call('ZADD', KEYS[2], now + margin, token)
        redis.call('EXPIRE', KEYS[2], math.ceil(window) + 60)
    end
    redis.call('ZADD', KEYS[1], now + ttl, token)
    redis.call('EXPIRE', KEYS[1], 3600)
    return {1, '0'}
end
-- A freed slot pushes a wake-up, which one waiter pops (BLPOP) to try at once instead of polling;
-- the list is trimmed, so wake-ups nobody waited for cost at most a few retries.
local function wake(max)
    redis.call('RPUSH', KEYS[4], '1')
    redis.call('LTRIM', KEYS[4], -max, -1)
    redis.call('EXPIRE', KEYS[4], 60)
end
-- The call ended: its request reached the provider before now (and before its acquire + margin).
local function restamp(token)
    local latest = redis.call('ZSCORE', KEYS[2], token)
    if latest then redis.call('ZADD', KEYS[2], 'XX', math.min(now, tonumber(latest)), token) end
end
"""


# A lease token per call must be unique across every process. uuid4 costs a getrandom() system call each
# time (about 3% of a worker's CPU on instant answers); a random prefix per process plus a counter does not.
_prefix = {"pid": 0, "value": ""}
_counter = itertools.count()


def lease_token() -> str:
    if _prefix["pid"] != os.getpid():  # a forked pool process draws its own prefix
        _prefix.update(pid=os.getpid(), value=uuid.uuid4().hex[:16])
    return f"{_prefix['value']}{next(_counter):x}"


class RedisBackend:
    # ARGV: token, max, rpm, ttl, window, increase_seconds, arrival_margin.
    _ACQUIRE = """
    return take(ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]),
                tonumber(ARGV[7]))
    """
    # A thread's next call: free its last slot (a success) and take one, in one round trip.
    # ARGV: old token, new token, max, rpm, ttl, window, increase_seconds, arrival_margin.
    _SWAP = """
    local max = tonumber(ARGV[3])
    redis.call('ZREM', KEYS[1], ARGV[1])
    restamp(ARGV[1])
    local taken = take(ARGV[2], max, tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]),
                       tonumber(ARGV[8]))
    if taken[1] == 0 then wake(max) end
    return taken
    """
    # ARGV: token, outcome ("success" | "rate_limited" | "timeout" | "other"), max, hold, retry_after,
    # increase_seconds, decrease_window, arrival_margin.
    _RELEASE = """
    local token, max, hold = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
    if hold > 0 then
        redis.call('ZADD', KEYS[1], 'XX', now + hold, token)
    else
        redis.call('ZREM', KEYS[1], token)
        wake(max)
    end
    restamp(token)
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
        self._swap = self.client.register_script(_LUA_PRELUDE + self._SWAP)
        self._renew = self.client.register_script(_LUA_PRELUDE + self._RENEW)
        self._state = self.client.register_script(_LUA_PRELUDE + self._STATE)
        self.heartbeat = _Heartbeat(self._renew_leases)

    def _keys(self, key: str) -> tuple[str, str, str, str]:
        base = f"{self.prefix}:{{{key}}}"  # one hash slot, should this ever run on Redis Cluster
        return f"{base}:leases", f"{base}:rpm", f"{base}:aimd", f"{base}:wake"

    def _wake_key(self, key: str) -> str:
        return self._keys(key)[3]

    def try_acquire(self, key: str, policy: Policy) -> Attempt:
        token = lease_token()
        args = [token, policy.max_concurrency, policy.rpm, policy.lease_ttl, policy.rpm_window, policy.increase_seconds,
                policy.arrival_margin]  # fmt: skip
        return self._taken(key, policy, token, self._acquire(keys=self._keys(key), args=args))

    def swap(self, key: str, policy: Policy, old: Lease) -> Attempt:
        """Free `old` (a success) and try to take a slot, in one round trip."""
        self.heartbeat.discard((key, policy.lease_ttl), old.token)
        token = lease_token()
        args = [old.token, token, policy.max_concurrency, policy.rpm, policy.lease_ttl, policy.rpm_window,
                policy.increase_seconds, policy.arrival_margin]  # fmt: skip
        return self._taken(key, policy, token, self._swap(keys=self._keys(key), args=args))

    def _taken(self, key: str, policy: Policy, token: str, answer: list) -> Attempt:
        ok, wait = answer
        if not int(ok):
            return Attempt(None, float(wait))
        lease = Lease(token)
        self.heartbeat.add((key, policy.lease_ttl), token, policy.live_deadline(lease))
        return Attempt(lease)

    def release(self, key: str, policy: Policy, lease: Lease, outcome: str, *, hold: float, retry_after: float) -> int:
        self.heartbeat.discard((key, policy.lease_ttl), lease.token)
        args = [lease.token, outcome, policy.max_concurrency, hold, retry_after, policy.increase_seconds,
                policy.decrease_window, policy.arrival_margin]  # fmt: skip
        return int(self._release(keys=self._keys(key), args=args))

    def _renew_leases(self, key: tuple[str, float], tokens: list[tuple[str, float]]) -> None:
        name, ttl = key
        self._renew(keys=[self._keys(name)[0]], args=[ttl, *(value for pair in tokens for value in pair)])

    def wait_for_release(self, key: str, timeout: float) -> None:
        """Block until a slot is released (or `timeout` seconds pass): a waiter then tries again at once."""
        # A lease that expires (its worker died) wakes nobody: waiters also look again now and then.
        self.client.blpop([self._wake_key(key)], timeout=max(min(timeout, random.uniform(*WAKE_WAIT_SECONDS)), 0.01))

    def effective_concurrency(self, key: str, policy: Policy) -> int:
        return int(self._state(keys=[self._keys(key)[2]], args=[policy.max_concurrency, policy.increase_seconds]))

    def in_use(self, key: str) -> int:
        """Slots taken now (live leases and timed-out calls still held)."""
        leases = self._keys(key)[0]
        seconds, micros = self.client.time()
        return int(self.client.zcount(leases, f"({seconds + micros / 1e6}", "+inf"))

    def reset(self, key: str) -> None:
        self.client.delete(*self._keys(key))


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
