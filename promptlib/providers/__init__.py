"""LLM providers: one module per kind behind one small interface (see base.py), chosen by registry.py.

    from promptlib.providers import ChatRequest, ProviderError, limiter_for, provider_for

    provider = provider_for(config)                      # config: a ProviderConfig
    try:
        with limiter_for(config):                        # concurrency + RPM across all workers
            response = provider.complete(ChatRequest(model="gpt-4o-mini", messages=[...]))
    except ProviderError as error:
        if error.permanent: ...                          # give up on this item
        else: ...                                        # retry after error.retry_after (or a backoff)

SDKs are imported only when their kind is first used.
"""

from promptlib.providers.base import ChatRequest, ChatResponse, Provider, ProviderError
from promptlib.providers.limits import ProviderLimiter, limiter_for
from promptlib.providers.registry import UnknownProviderKindError, provider_for

__all__ = [
    "ChatRequest",
    "ChatResponse",
    "Provider",
    "ProviderError",
    "ProviderLimiter",
    "UnknownProviderKindError",
    "limiter_for",
    "provider_for",
]
