"""Provider kinds → implementing classes, imported lazily (an SDK loads only when its kind is used).

    provider = provider_for(config)          # config: a ProviderConfig row (saved or not)
    with limiter_for(config):                # promptlib.providers.limits
        response = provider.complete(ChatRequest(model=..., messages=[...]))

Providers are cheap to make (their SDK clients are cached per process), so make one per use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from promptlib.providers.base import Provider
from promptlib.providers.policy import api_key_for

PROVIDER_KINDS: dict[str, str] = {
    "openai": "promptlib.providers.openai.OpenAIProvider",
    "anthropic": "promptlib.providers.anthropic.AnthropicProvider",
    "demo": "promptlib.providers.demo.DemoProvider",
}

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}

_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()


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
    """One SDK client per key in this process: creating one (and its connection pool) is expensive."""
    key = (os.getpid(), *key)  # a forked child must not share its parent's connections
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = factory()
    return client


def clients_clear() -> None:
    """Drop cached clients (tests; after a fork the parent's pools must not be reused)."""
    with _clients_lock:
        _clients.clear()
