"""API keys: creation (the full key is returned once), revocation and authentication."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from promptlib.core.caching import API_KEY_TTL_SECONDS, api_key_cache_invalidate, api_key_key, cache_trip
from promptlib.core.errors import DomainError
from promptlib.core.models import ApiKey, Project

KEY_PATTERN = re.compile(r"pl_([a-z0-9]{8})_([A-Za-z0-9]{32})")
SCOPES = tuple(ApiKey.Scope.values)
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits
_LAST_USED_EVERY_SECONDS = 60


class ApiKeyError(DomainError):
    pass


@dataclass(frozen=True)
class ApiKeyRecord:
    """What a request needs to know about its key; cached, so it holds plain values only."""

    id: int
    project_id: int
    scopes: tuple[str, ...]
    prefix: str


def key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def scopes_clean(scopes: list[str] | tuple[str, ...] | str) -> list[str]:
    """Validate scopes ("read", "write", "providers"); each implies read."""
    if isinstance(scopes, str):
        scopes = [part.strip() for part in scopes.split(",") if part.strip()]
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ApiKeyError(f"Unknown scope {unknown[0]!r}; use {', '.join(SCOPES)}.", field="scopes")
    if not scopes:
        raise ApiKeyError(f"Choose at least one scope: {', '.join(SCOPES)}.", field="scopes")
    chosen = set(scopes) | {ApiKey.Scope.READ.value}
    return [scope for scope in SCOPES if scope in chosen]


def api_key_create(*, project: Project, scopes: list[str] | str, name: str = "", created_by=None) -> tuple[ApiKey, str]:
    """Create a key and return it with the full secret, which is never shown again."""
    clean_scopes = scopes_clean(scopes)
    if len(name) > 100:
        raise ApiKeyError("A key name has at most 100 characters.", field="name")
    for attempt in range(5):
        prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))
        secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(32))
        raw = f"pl_{prefix}_{secret}"
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    project=project,
                    name=name,
                    prefix=prefix,
                    key_hash=key_hash(raw),
                    scopes=clean_scopes,
                    created_by=created_by if created_by is not None and created_by.is_authenticated else None,
                )
            return api_key, raw
        except IntegrityError:  # a prefix collision (1 in 2.8e12): draw again
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        api_key_cache_invalidate(key_hash=api_key.key_hash)
    return api_key


# Key hash → (key id, project id): neither ever changes for a key, so a process keeps them for good
# and can name a request's per-key cache entries before the first round trip. Whether the key is
# still active is asked of the cache (which revocation clears) on every request.
_identities: dict[str, tuple[int, int]] = {}
_IDENTITIES_MAX = 10_000


@dataclass
class Along:
    """Cache reads and window counters a caller wants in the same round trip as the key check."""

    get: tuple[str, ...] = ()
    count: tuple[tuple[str, int], ...] = ()
    values: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    done: bool = False  # False when the key was not known to this process: nothing was fetched


def api_key_authenticate(*, raw: str, along: Callable[[int, int], Along] | None = None) -> ApiKeyRecord | None:
    """The active key with this secret, or None. Cached by hash so that warm requests skip the database.

    `along(key_id, project_id)` may name further cache work to do in the same round trip, once this
    process has seen the key; the Along it returns is filled in (see Along.done).
    """
    if not KEY_PATTERN.fullmatch(raw):
        return None
    digest = key_hash(raw)
    cache_key = api_key_key(key_hash=digest)
    identity = _identities.get(digest)
    extra = along(*identity) if along is not None and identity is not None else Along()
    get = (cache_key, *extra.get)
    used = (_used_key(identity[0]), _LAST_USED_EVERY_SECONDS) if identity is not None else None
    values, added, extra.counts = cache_trip(get=get, add=(used,) if used else (), count=extra.count)
    extra.values = {key: values[key] for key in extra.get if key in values}
    extra.done = identity is not None
    record = values.get(cache_key)
    if record is None:
        found = ApiKey.objects.filter(key_hash=digest, revoked_at__isnull=True).first()
        if found is None:
            return None
        record = ApiKeyRecord(id=found.pk, project_id=found.project_id, scopes=tuple(found.scopes), prefix=found.prefix)
        cache.set(cache_key, record, API_KEY_TTL_SECONDS)
    if identity is None:
        if len(_identities) >= _IDENTITIES_MAX:
            _identities.clear()
        _identities[digest] = (record.id, record.project_id)
        _touch(record)
    elif added.get(used[0]):
        _last_used_write(record)
    return record


def _used_key(key_id: int) -> str:
    return f"apikey-used:{key_id}"


def _touch(record: ApiKeyRecord) -> None:
    # last_used_at is informative: written at most once a minute per key, never on every request.
    if cache.add(_used_key(record.id), 1, _LAST_USED_EVERY_SECONDS):
        _last_used_write(record)


def _last_used_write(record: ApiKeyRecord) -> None:
    ApiKey.objects.filter(pk=record.id).update(last_used_at=timezone.now())
