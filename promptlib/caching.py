"""Cache keys for the hot API path, and their invalidation.

Everything the render endpoint needs about a template (the resolved versions per label, the latest
version, the running experiment) lives under one key per template, so that every write which
changes what a render returns drops exactly that key after its transaction commits. API keys are
cached by the hash of the secret, so that authenticating a request needs no query either.
"""

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


def api_key_key(*, key_hash: str) -> str:
    return f"apikey:v1:{key_hash}"


def api_key_cache_invalidate(*, key_hash: str) -> None:
    key = api_key_key(key_hash=key_hash)
    transaction.on_commit(lambda: cache.delete(key))
