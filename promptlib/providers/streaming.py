"""A provider call streamed to a waiting person (the playground), never longer than the provider's timeout.

    for piece in stream_bounded(config=config, request=request):
        ...  # str pieces of the answer as they come, then the ChatResponse

The call runs on its own thread, inside the provider's cross-worker limiter (the same slots and
requests-per-minute as batches), and hands its pieces over a queue. The caller — a web worker —
waits at most `timeout_seconds` in all: then it gets a ProviderError ("timeout") and goes back to
serving pages, while the abandoned call keeps its slot until the SDK's own timeout ends it (a
trickling answer stops at its next piece).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

from promptlib.core.secrets import text_scrub
from promptlib.providers.base import ChatRequest, ChatResponse, ProviderError
from promptlib.providers.limits import ProviderLimiter, limiter_for
from promptlib.providers.registry import provider_for

_END = object()
MAX_ERROR_CHARS = 400


def limiter_bounded(config, *, wait: float) -> ProviderLimiter:
    """The provider's shared limiter (same key and backend as batches), waiting at most `wait` seconds for a slot."""
    shared = limiter_for(config)
    return ProviderLimiter(
        key=shared.key,
        max_concurrency=shared.max_concurrency,
        rpm=shared.rpm,
        backend=shared.backend,
        call_timeout=shared.call_timeout,
        acquire_timeout=max(min(wait, shared.acquire_timeout), 0.01),
    )


def stream_bounded(*, config, request: ChatRequest, budget: float | None = None) -> Iterator[str | ChatResponse]:
    """Pieces of the answer, then the ChatResponse; a ProviderError (its text scrubbed of the key) on failure.

    `budget`: seconds for the whole call, waiting for a slot included (default: the provider's timeout).
    """
    budget = float(config.timeout_seconds) if budget is None else budget
    provider = provider_for(config)  # a missing key fails here, before any thread
    ends = time.monotonic() + budget  # after: the first use of an SDK in a process imports it (seconds)
    limiter = limiter_bounded(config, wait=budget)
    pieces: queue.Queue = queue.Queue()
    abandoned = threading.Event()

    def call() -> None:
        try:
            with limiter:
                if abandoned.is_set():  # the slot came too late: nobody reads the answer any more
                    return
                answer = provider.stream(request)
                try:
                    for piece in answer:
                        if abandoned.is_set():
                            break
                        pieces.put(piece)
                finally:
                    answer.close()
            pieces.put(_END)
        except ProviderError as exc:
            pieces.put(exc)
        except Exception as exc:  # an SDK bug must end this call with a message, not hang the page
            pieces.put(ProviderError(f"Unexpected error: {exc!r}", "server"))

    threading.Thread(target=call, name="promptlib-stream", daemon=True).start()
    try:
        while True:
            remaining = ends - time.monotonic()
            if remaining <= 0:
                raise ProviderError(
                    f"The provider did not finish answering within {budget:g} seconds (its timeout).", "timeout"
                )
            try:
                piece = pieces.get(timeout=remaining)
            except queue.Empty:
                continue
            if piece is _END:
                return
            if isinstance(piece, ProviderError):
                secrets = [provider.api_key] if provider.api_key else []
                message = text_scrub(piece.message, secrets=secrets, limit=MAX_ERROR_CHARS)
                raise ProviderError(message, piece.kind, status=piece.status, retry_after=piece.retry_after)
            yield piece
    finally:
        abandoned.set()
