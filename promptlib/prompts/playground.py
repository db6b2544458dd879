"""The playground: one version (or the editor's unsaved draft) run once against a provider, the answer streamed.

    request = playground_request(content=content, values={"ticket": "…"}, model="gpt-4o-mini")
    for event in playground_stream(config=provider_config, request=request):
        ...  # {"type": "delta", "text"}…, then {"type": "done", tokens, latency, cost} or {"type": "error"}

The same path as a batch call: the version rendered by the code the API uses, the provider made by
the registry (its key decrypted there), the call inside the provider's shared limiter, the cost
from the same price list. It differs in one way: a person is waiting, so the whole call is bounded
by the provider's timeout, or settings.PROMPTLIB_PLAYGROUND_MAX_SECONDS when shorter (a web worker's
own limit), through promptlib/providers/streaming.py, and is never retried.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings

from promptlib.prompts.content import VersionContent
from promptlib.prompts.rendering import render
from promptlib.prompts.retrieval import Retrieval, prompt_build
from promptlib.providers.base import ChatRequest, ChatResponse, ProviderError
from promptlib.providers.pricing import cost_usd
from promptlib.providers.probe import error_sentence
from promptlib.providers.streaming import stream_bounded


def playground_request(
    *, content: VersionContent, values: dict[str, Any], model: str, project_id: int | None = None
) -> ChatRequest:
    """The chat request a batch would send for these values; a PromptError names what is wrong.

    With the template's project, a version with a knowledge base gets its passages (see playground_retrieve).
    """
    if project_id is not None and content.retrieval:
        rendered = prompt_build(project_id=project_id, content=content, variables=values).prompt
    else:
        rendered = render(content, values)
    return ChatRequest(
        model=model,
        messages=rendered.messages,
        temperature=content.temperature,
        max_tokens=content.max_tokens,
        json_schema=content.output_schema,
    )


def playground_retrieve(*, project_id: int, content: VersionContent, values: dict[str, Any]) -> Retrieval | None:
    """What the knowledge base gives this run (cached: the request built next reuses it); None without one."""
    if not content.retrieval:
        return None
    return prompt_build(project_id=project_id, content=content, variables=values).retrieval


def retrieved_event(retrieval: Retrieval) -> dict[str, Any]:
    """The page's "retrieved" event: the search and each passage (title, source, score, text)."""
    return {
        "type": "retrieved",
        "knowledge_base": retrieval.knowledge_base,
        "query": retrieval.query,
        "latency_ms": round(retrieval.latency_ms, 1),
        "passages": [
            {name: chunk[name] for name in ("id", "title", "source", "score", "text")} for chunk in retrieval.chunks
        ],
    }


def playground_stream(*, config, request: ChatRequest) -> Iterator[dict[str, Any]]:
    """Events for the page: "delta" pieces of text, then one "done" (tokens, latency, cost) or one "error"."""
    started = time.perf_counter()
    first_ms = None
    response: ChatResponse | None = None
    budget = min(float(config.timeout_seconds), settings.PROMPTLIB_PLAYGROUND_MAX_SECONDS)
    capped = budget < float(config.timeout_seconds)
    try:
        for piece in stream_bounded(config=config, request=request, budget=budget):
            if isinstance(piece, ChatResponse):
                response = piece
                continue
            if first_ms is None:
                first_ms = _ms(started)
            yield {"type": "delta", "text": piece}
    except ProviderError as exc:
        message = error_sentence(exc, config=config, seconds=budget if capped else None)
        yield {"type": "error", "kind": exc.kind, "message": message}
        return
    if response is None:  # the provider ended without its answer: say so rather than show nothing
        yield {"type": "error", "kind": "server", "message": "The provider ended the answer without finishing it."}
        return
    cost = cost_usd(
        provider_config=config,
        model=response.model or request.model,
        input_tokens=response.input_tokens,
        output_tokens=response.output_tokens,
    )
    yield {
        "type": "done",
        "text": response.text,
        "model": response.model or request.model,
        "input_tokens": response.input_tokens,
        "output_tokens": response.output_tokens,
        "latency_ms": _ms(started),
        "first_token_ms": first_ms,
        "cost_usd": float(cost.usd),
        "cost_known": cost.known,
    }


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
