"""A per-user budget for admin actions that call a provider (playground runs, Test connection).

Each such request is a paid call made while a person waits; this caps how many one user can fire per
period (settings.PROMPTLIB_PLAYGROUND_RATE, e.g. "30/min"), counted in the same fixed-window cache
counters as the API's rate limit, so it holds across web processes when Redis is the cache.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse

from promptlib.api.throttling import _fixed_window, rate_parse
from promptlib.core.caching import cache_trip


def spend_wait_seconds(request) -> int:
    """0 when this request is within the user's budget (and counts it); else seconds until the next window."""
    rate = settings.PROMPTLIB_PLAYGROUND_RATE
    if not rate:
        return 0
    limit, period = rate_parse(rate)
    key, timeout, now, window = _fixed_window(prefix="spend", ident=f"u{request.user.pk}", period=period)
    count = cache_trip(count=((key, timeout),))[2][key]
    return 0 if count <= limit else max(1, int((window + 1) * period - now) + 1)


def spend_refused(request) -> JsonResponse | None:
    """A 429 answer saying when to try again, or None when the request may spend."""
    wait = spend_wait_seconds(request)
    if not wait:
        return None
    message = (
        f"You have run the model {rate_parse(settings.PROMPTLIB_PLAYGROUND_RATE)[0]} times in a short while: "
        f"try again in {wait} seconds."
    )
    # "verdict" for Test connection's answer, "errors" for the playground's.
    body = {"ok": False, "verdict": message, "errors": [{"field": "", "message": message}]}
    response = JsonResponse(body, status=429)
    response["Retry-After"] = str(wait)
    return response
