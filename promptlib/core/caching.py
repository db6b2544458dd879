"""Cache keys for the hot API path, and their invalidation.

Everything the render endpoint needs about a template (the resolved versions per label, the latest
version, the running experiment) lives under one key per template, so that every write which
changes what a render returns drops exactly that key after its transaction commits. API keys are
cached by the hash of the secret, so that authenticating a request needs no query either.
"""

import threading
import time
from typing import Any

from django.core.cache import cache
from django.db import transaction

TEMPLATE_TTL_SECONDS = 300
# Short: with a per-process cache (no Redis) a revoked key stays usable in other processes this long.
API_KEY_TTL_SECONDS = 60


def template_key(*, project_id: int, slug: str) -> str:
    return f"tpl:v1:{project_id}:{slug}"


def template_cache_invalidate(*, project_id: int, slug: str) -> None:
    key = template_key(project_id=project_id, slug=slug)
    # After commit: a concurrent reader must not re-cache the old state from a transaction not yet visible.
    transaction.on_commit(lambda: cache.delete(key))


# Retrieval (promptlib.prompts.retrieval): a label of a knowledge base → its snapshot id, briefly
# (dropped on publish); the passages found in an immutable snapshot for a query, for long.
KNOWLEDGE_LABEL_TTL_SECONDS = 60
KNOWLEDGE_SEARCH_TTL_SECONDS = 3600


def knowledge_label_key(*, project_id: int, name: str, label: str) -> str:
    return f"kblabel:v1:{project_id}:{name}:{label}"


def knowledge_search_key(*, snapshot_id: int, digest: str) -> str:
    return f"kbsearch:v1:{snapshot_id}:{digest}"


# Each process also keeps a label's snapshot id for a moment, so a warm render makes no cache round trip
# for it: a publish shows at once in the process that made it, and within this many seconds elsewhere.
KNOWLEDGE_LABEL_MEMO_SECONDS = 2.0
_label_memo: dict[str, tuple[int, float]] = {}
_label_memo_lock = threading.Lock()


def knowledge_label_lookup(key: str) -> int | None:
    """The snapshot id a label key names: from this process's memo, else the shared cache (then memoised)."""
    found = _label_memo.get(key)
    now = time.monotonic()
    if found is not None and found[1] > now:
        return found[0]
    value = cache.get(key)
    if value is not None:
        knowledge_label_remember(key, value)
    return value


def knowledge_label_remember(key: str, snapshot_id: int) -> None:
    with _label_memo_lock:
        if len(_label_memo) > 10_000:
            _label_memo.clear()
        _label_memo[key] = (snapshot_id, time.monotonic() + KNOWLEDGE_LABEL_MEMO_SECONDS)


def knowledge_label_forget_all() -> None:
    with _label_memo_lock:
        _label_memo.clear()


def knowledge_cache_invalidate(*, project_id: int, name: str, labels: tuple[str, ...] = ("latest",)) -> None:
    """After a knowledge base's labels moved (a publish): renders look its snapshot up again."""
    keys = [knowledge_label_key(project_id=project_id, name=name, label=label) for label in labels]

    def forget() -> None:
        with _label_memo_lock:
            for key in keys:
                _label_memo.pop(key, None)
        cache.delete_many(keys)

    transaction.on_commit(forget)


def api_key_key(*, key_hash: str) -> str:
    return f"apikey:v1:{key_hash}"


def api_key_cache_invalidate(*, key_hash: str) -> None:
    key = api_key_key(key_hash=key_hash)
    transaction.on_commit(lambda: cache.delete(key))


def cache_trip(
    *, get: tuple[str, ...] = (), add: tuple[tuple[str, int], ...] = (), count: tuple[tuple[str, int], ...] = ()
) -> tuple[dict[str, Any], dict[str, bool], dict[str, int]]:
    """Several cache operations in one round trip with Redis (promptlib.core.cache_backend), one by one otherwise.

    get: keys to read (values of those present); add: (key, timeout) to set unless present (True
    when this call set it); count: (key, timeout) fixed-window counters, incremented (the new
    value), expiring `timeout` seconds after the first increment.
    """
    trip = getattr(cache, "trip", None)
    if trip is not None:
        return trip(get=get, add=add, count=count)
    values = cache.get_many(get) if get else {}
    added = {key: cache.add(key, 1, timeout) for key, timeout in add}
    return values, added, {key: _count(key, timeout) for key, timeout in count}


def _count(key: str, timeout: int) -> int:
    cache.add(key, 0, timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout)
        return 1
