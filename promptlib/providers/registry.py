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

from promptlib.providers.base import Provider, ProviderError

PROVIDER_KINDS: dict[str, str] = {
    "openai": "promptlib.providers.openai.OpenAIProvider",
    "anthropic": "promptlib.providers.anthropic.AnthropicProvider",
    "demo": "promptlib.providers.demo.DemoProvider",
}

# Local servers (Ollama, vLLM, the test stand-ins) accept any key; the SDKs insist on one.
LOCAL_DUMMY_KEY = "not-needed"
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
    """The provider for a ProviderConfig, with its API key read from the environment now.

    Raises UnknownProviderKindError for a kind no module implements, and a permanent ProviderError
    (kind "auth") when the key's environment variable is not set.
    """
    cls = provider_class(config.kind)
    return cls(config=config, api_key=api_key_for(config))


def api_key_for(config) -> str:
    if config.kind == "demo":
        return ""
    if config.api_key_env:
        key = os.environ.get(config.api_key_env, "")
        if not key:
            raise ProviderError(
                f"The environment variable {config.api_key_env} (API key of provider '{config.name}') is not set.",
                "auth",
            )
        return key
    if is_local_url(config.base_url):
        return LOCAL_DUMMY_KEY
    raise ProviderError(
        f"Provider '{config.name}' has no API key variable; set api_key_env (e.g. OPENAI_API_KEY).", "auth"
    )


def is_local_url(url: str) -> bool:
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
