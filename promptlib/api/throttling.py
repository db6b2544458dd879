"""Per-key rate limit: a fixed-window counter in the cache (one increment per request, no database)."""

from __future__ import annotations

import time
from functools import lru_cache

from rest_framework.exceptions import Throttled
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from promptlib.services.apikeys import ApiKeyRecord

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@lru_cache(maxsize=8)
def rate_parse(rate: str) -> tuple[int, int]:
    """ "6000/min" → (6000, 60)."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[:1]]


class ApiKeyRateThrottle(BaseThrottle):
    """One budget per API key (per user for the browsable API, per address otherwise)."""

    def allow_request(self, request, view) -> bool:
        from django.core.cache import cache

        rate = api_settings.DEFAULT_THROTTLE_RATES.get("api")
        if not rate:
            return True
        limit, period = rate_parse(rate)
        if isinstance(request.auth, ApiKeyRecord):
            ident = f"k{request.auth.id}"
        elif request.user and request.user.is_authenticated:
            ident = f"u{request.user.pk}"
        else:
            ident = f"a{self.get_ident(request)}"
        now = time.time()
        window = int(now // period)
        key = f"throttle:{ident}:{period}:{window}"
        cache.add(key, 0, period + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, period + 1)
            count = 1
        if count > limit:
            raise Throttled(wait=max(1, int((window + 1) * period - now) + 1))
        return True
