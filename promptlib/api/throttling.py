"""Per-key rate limit: a fixed-window counter in the cache (one increment per request, no database).

For API keys the increment rides in the same cache round trip as the key check (see
promptlib.api.authentication), so it also counts a request that the permission check then refuses;
other requests make their own.

Failed API keys are counted per client address in the same kind of window (`key_failure_window`);
promptlib.api.authentication refuses an address over the limit with a 429.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from promptlib.core.apikeys import ApiKeyRecord
from promptlib.core.caching import cache_trip

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@lru_cache(maxsize=8)
def rate_parse(rate: str) -> tuple[int, int]:
    """ "6000/min" → (6000, 60)."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[:1]]


def _fixed_window(*, prefix: str, ident: str, period: int) -> tuple[str, int, float, int]:
    """(counter key, seconds it lives, now, window number) of the current fixed window of `period` seconds."""
    now = time.time()
    window = int(now // period)
    return f"{prefix}:{ident}:{period}:{window}", period + 1, now, window


def throttle_window(*, ident: str) -> tuple[str, int, float] | None:
    """(counter key, seconds it lives, now) for this caller's current window; None when no limit is set."""
    rate = api_settings.DEFAULT_THROTTLE_RATES.get("api")
    if not rate:
        return None
    key, timeout, now, _window = _fixed_window(prefix="throttle", ident=ident, period=rate_parse(rate)[1])
    return key, timeout, now


@dataclass(frozen=True)
class FailureWindow:
    """This address's counter of failed API keys in the current window, and when the window ends."""

    key: str
    timeout: int
    limit: int
    retry_after: int

    def blocked(self, values: dict) -> bool:
        """Whether the counter read into `values` (a cache read of `key`) has reached the limit."""
        return values.get(self.key, 0) >= self.limit


def key_failure_window(*, ip: str) -> FailureWindow | None:
    """The failure counter of this address's current window (PROMPTLIB_API_KEY_FAILURE_RATE); None when unset."""
    rate = settings.PROMPTLIB_API_KEY_FAILURE_RATE
    if not rate:
        return None
    limit, period = rate_parse(rate)
    key, timeout, now, window = _fixed_window(prefix="keyfail", ident=ip, period=period)
    return FailureWindow(
        key=key, timeout=timeout, limit=limit, retry_after=max(1, int((window + 1) * period - now) + 1)
    )


_ADDRESS = BaseThrottle()


def client_ip(request) -> str:
    """The caller's address: REMOTE_ADDR, or the X-Forwarded-For entry the trusted proxies saw
    (REST_FRAMEWORK NUM_PROXIES). One rule for the API throttles and the admin's login lockout."""
    return _ADDRESS.get_ident(request)


def key_ident(key_id: int) -> str:
    return f"k{key_id}"


def request_counted(request) -> tuple[str, int, float] | None:
    """(counter key, count, time) when the API key check's round trip already counted this request."""
    along, window = getattr(request, "_promptlib_along", (None, None))  # set by promptlib.api.authentication
    if along is None or not along.done or window is None:
        return None
    return window[0], along.counts[window[0]], window[2]


class ApiKeyRateThrottle(BaseThrottle):
    """One budget per API key (per user for the browsable API, per address otherwise)."""

    def allow_request(self, request, view) -> bool:
        counted = request_counted(request)
        if counted is not None:
            key, count, now = counted
        else:
            if isinstance(request.auth, ApiKeyRecord):
                ident = key_ident(request.auth.id)
            elif request.user and request.user.is_authenticated:
                ident = f"u{request.user.pk}"
            else:
                ident = f"a{self.get_ident(request)}"
            window = throttle_window(ident=ident)
            if window is None:
                return True
            key, timeout, now = window
            count = cache_trip(count=((key, timeout),))[2][key]
        limit, period = rate_parse(api_settings.DEFAULT_THROTTLE_RATES["api"])
        if count > limit:
            raise Throttled(wait=max(1, int((now // period + 1) * period - now) + 1))
        return True
