"""API-key authentication: `Authorization: Bearer pl_<prefix>_<secret>` (or an `X-API-Key` header).

A valid key authenticates as its project, never as a person; the lookup is cached by the key's hash
so that warm requests touch no database. Once a process has seen a key, the key check, the rate
limit's counter and whatever the view declares in `cache_prefetch` (render: the template snapshot)
share one cache round trip.

Guessing is throttled per client address: once PROMPTLIB_API_KEY_FAILURE_RATE well-formed keys
have failed in a window, the address gets 429 with Retry-After until the window ends, whatever key
it sends. The block is checked before the key lookup; for a key this process has already accepted,
the counter is read in the key check's own round trip, so a good key's warm request makes no extra
one. Malformed keys cannot be guesses: refused without touching the cache, and not counted.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed, Throttled

from promptlib.api.throttling import FailureWindow, client_ip, key_failure_window, key_ident, throttle_window
from promptlib.core.apikeys import KEY_PATTERN, Along, ApiKeyRecord, api_key_authenticate, key_hash
from promptlib.core.caching import cache_trip

# Hashes of keys this process has accepted: their requests read the failure counter in the key
# check's round trip instead of a round trip of their own before it.
_accepted: set[str] = set()
_ACCEPTED_MAX = 10_000


class ApiKeyUser:
    """The request.user of a key-authenticated request: authenticated, but nobody in particular."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, record: ApiKeyRecord):
        self.record = record
        self.username = f"api-key pl_{record.prefix}"

    def __str__(self) -> str:
        return self.username

    def get_username(self) -> str:
        return self.username


def raw_key(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip()
        return None
    return request.META.get("HTTP_X_API_KEY") or None


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        raw = raw_key(request)
        if raw is None:
            return None
        if not KEY_PATTERN.fullmatch(raw):
            raise AuthenticationFailed("Malformed API key: expected pl_<prefix>_<secret>.")
        failures = key_failure_window(ip=client_ip(request))
        digest = key_hash(raw)
        accepted = digest in _accepted
        if failures is not None and not accepted:  # a guess, or a key's first use in this process
            _refuse_if_blocked(failures, cache_trip(get=(failures.key,))[0])
        record = api_key_authenticate(raw=raw, along=partial(_along, request, failures))
        if failures is not None and accepted:
            read = request_prefetched(request)  # None in the rare case the key check fetched nothing along
            _refuse_if_blocked(failures, read if read is not None else cache_trip(get=(failures.key,))[0])
        if record is None:
            if failures is not None:
                cache_trip(count=((failures.key, failures.timeout),))
            raise AuthenticationFailed("Unknown or revoked API key.")
        if not accepted:
            if len(_accepted) >= _ACCEPTED_MAX:
                _accepted.clear()
            _accepted.add(digest)
        return ApiKeyUser(record), record

    def authenticate_header(self, request) -> str:
        # Makes missing or bad credentials a 401 (with this challenge) rather than a 403.
        return 'Bearer realm="promptlib"'


def _refuse_if_blocked(failures: FailureWindow, values: dict) -> None:
    if failures.blocked(values):
        raise Throttled(wait=failures.retry_after, detail="Too many unknown API keys from your address.")


def _along(request, failures: FailureWindow | None, key_id: int, project_id: int) -> Along:
    """Cache work this request needs, done in the key check's round trip: the rate limit's counter,
    what the view declares in `cache_prefetch(project_id=…)` (render: the template snapshot), and
    this address's count of failed keys."""
    window = throttle_window(ident=key_ident(key_id))
    prefetch = getattr((request.parser_context or {}).get("view"), "cache_prefetch", None)
    get = prefetch(project_id=project_id) if prefetch else ()
    if failures is not None:
        get = (*get, failures.key)
    along = Along(get=get, count=(window[:2],) if window else ())
    request._promptlib_along = (along, window)
    return along


def request_prefetched(request) -> dict[str, Any] | None:
    """The values the key check's round trip read for the view (absent keys: misses); None if it read none."""
    along, _ = getattr(request, "_promptlib_along", (None, None))
    return along.values if along is not None and along.done else None


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "promptlib.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A project API key, pl_<prefix>_<secret>, created in the admin or with create_api_key.",
        }


__all__ = [
    "ApiKeyAuthentication",
    "ApiKeyUser",
    "SessionAuthentication",
    "raw_key",
    "request_prefetched",
]
