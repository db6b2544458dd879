"""Provider kinds → implementing classes, imported lazily (an SDK loads only when its kind is used).

    provider = provider_for(config)          # config: a ProviderConfig row (saved or not)
    with limiter_for(config):                # promptlib.providers.limits
        response = provider.complete(ChatRequest(model=..., messages=[...]))

Providers are cheap to make (their SDK clients are cached per thread), so make one per use.
"""

from __future__ import annotations

import functools
import os
import ssl
import threading
from collections.abc import Callable
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

import httpx2

from promptlib.providers.base import Provider
from promptlib.providers.policy import api_key_for

PROVIDER_KINDS: dict[str, str] = {
    "openai": "promptlib.providers.openai.OpenAIProvider",
    "anthropic": "promptlib.providers.anthropic.AnthropicProvider",
    "demo": "promptlib.providers.demo.DemoProvider",
}

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}

_thread = threading.local()  # this thread's SDK clients: .clients, and the .pid and .generation they belong to
_generation = 0  # bumped by clients_clear: every thread's clients are dropped at its next use


class UnknownProviderKindError(ValueError):
    pass


def provider_class(kind: str) -> type[Provider]:
    try:
        dotted = PROVIDER_KINDS[kind]
    except KeyError:
        known = ", ".join(sorted(PROVIDER_KINDS))
        raise UnknownProviderKindError(f"Unknown provider kind '{kind}'; expected one of: {known}.")
    module_name, class_name = dotted.rsplit(".", 1)
    return getattr(import_module(module_name), class_name)


def provider_for(config) -> Provider:
    """The provider for a ProviderConfig, with its API key (stored or from the environment) read now.

    Raises UnknownProviderKindError for a kind no module implements, and a permanent ProviderError
    (kind "auth") when it has no key it may use (promptlib.providers.policy.api_key_for).
    """
    cls = provider_class(config.kind)
    return cls(config=config, api_key=api_key_for(config))


def is_local_url(url: str) -> bool:
    """Whether `url` names this machine by a local name (pricing: local models cost nothing)."""
    return bool(url) and (urlsplit(url).hostname or "") in _LOCAL_HOSTS


def cached_client(key: tuple, factory: Callable[[], Any]) -> Any:
    """This thread's SDK client for `key`, made once per thread; a thread's clients go when it ends.

    Per thread, not per process: threads sharing one client wait on its connection pool's lock (a batch
    chunk's threads spent more time there than in their own work; bench/bench_batches.py (b)). Making a
    client costs ~0.2 ms with the shared TLS context of `tls_context`.
    """
    if getattr(_thread, "pid", None) != os.getpid() or _thread.generation != _generation:
        # First use in this thread, or a forked child (whose copy must not share its parent's
        # connections), or after clients_clear.
        _thread.clients, _thread.pid, _thread.generation = {}, os.getpid(), _generation
    client = _thread.clients.get(key)
    if client is None:
        client = _thread.clients[key] = factory()
    return client


def providers_warm_up() -> None:
    """One in-memory call through each SDK and the TLS settings loaded: a first call is then as fast as the next."""
    for kind in PROVIDER_KINDS:
        provider_class(kind).warm_up()
    tls_context()


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings every client shares: loading the CA bundle took ~25 ms per client."""
    return httpx2.create_ssl_context()


def clients_clear() -> None:
    """Drop cached clients, in every thread at its next call (tests)."""
    global _generation
    _generation += 1
