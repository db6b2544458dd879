"""The one small interface every LLM provider implements, and the one error type it raises.

A provider turns a `ChatRequest` into a `ChatResponse` with one synchronous call and no retries of
its own: the caller (the batch runner) decides about retries from `ProviderError.permanent` and
`ProviderError.retry_after`, and wraps each call in the provider's `ProviderLimiter`.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from promptlib.core.outbound import OutboundRefusedError, UnresolvableError

ErrorKind = Literal[
    "rate_limit", "server", "timeout", "connection", "bad_request", "auth", "not_found", "refusal", "refused"
]  # "refusal": the model declined; "refused": this server's outbound policy did

# Kinds worth retrying later; every other kind fails the same way again.
TEMPORARY_KINDS = frozenset({"rate_limit", "server", "timeout", "connection"})


@dataclass
class ChatRequest:
    """One chat completion to run.

    `messages` are OpenAI-style dicts: [{"role": "system"|"user"|"assistant", "content": str}, ...].
    `json_schema`, when set, asks for a JSON answer matching that schema (a JSON Schema dict).
    """

    model: str
    messages: list[dict[str, str]]
    temperature: float | None = None
    max_tokens: int | None = None
    json_schema: dict[str, Any] | None = None


@dataclass
class ChatResponse:
    """What came back. Token counts are the provider's own (usage), used for cost."""

    text: str
    input_tokens: int
    output_tokens: int
    model: str
    latency_ms: int
    raw_id: str = ""
    finish_reason: str = ""


@dataclass
class EmbeddingResponse:
    """Vectors for the inputs of one embeddings call, in order, and the tokens it cost."""

    vectors: list[list[float]]
    input_tokens: int
    model: str
    latency_ms: int


class ProviderError(Exception):
    """A failed call.

    `permanent` errors (bad request, auth, unknown model, refusal) fail the same way if retried;
    temporary ones (rate limit, server error, timeout, connection) may succeed later, not before
    `retry_after` seconds when the provider said so.
    """

    def __init__(
        self, message: str, kind: ErrorKind, status: int | None = None, retry_after: float | None = None
    ) -> None:
        # All in args, so the error survives pickling (multiprocessing, Celery's result handling).
        super().__init__(message, kind, status, retry_after)
        self.message = message
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        self.permanent = kind not in TEMPORARY_KINDS

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{self.kind}{status}: {self.message}"


def kind_for_status(status: int) -> ErrorKind:
    if status == 429:
        return "rate_limit"
    if status >= 500 or status in (408, 409):  # 408/409: providers ask to retry those too
        return "server"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    return "bad_request"


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` (seconds or an HTTP date); None if absent."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(float(value) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


class Provider:
    """Base class: one instance per ProviderConfig, safe to share between threads."""

    #: Shown in the admin and in batch results.
    label = "LLM provider"
    #: The key this provider sends ("" if none): callers scrub it from any error text they store.
    api_key = ""

    @classmethod
    def warm_up(cls) -> None:
        """Make the SDK's first real call as fast as its next ones (worker processes run this before forking)."""

    def complete(self, request: ChatRequest) -> ChatResponse:
        """Run one chat completion; raise ProviderError on any failure."""
        raise NotImplementedError

    def stream(self, request: ChatRequest) -> Iterator[str | ChatResponse]:
        """The answer's text in pieces as they arrive, then the whole ChatResponse last.

        Closing the iterator early ends the call. This default streams nothing: one piece, then the answer.
        """
        response = self.complete(request)
        if response.text:
            yield response.text
        yield response

    def models_list(self) -> list[str]:
        """The model names the server offers (OpenAI-compatible servers: GET /v1/models)."""
        raise ProviderError("This kind of provider cannot list its models.", "not_found")

    def embed(self, *, model: str, inputs: list[str]) -> EmbeddingResponse:
        """One vector per input (OpenAI-compatible servers: POST /v1/embeddings)."""
        raise ProviderError("This kind of provider cannot make embeddings.", "bad_request")


def error_from_sdk(exc: Exception, sdk: Any) -> ProviderError:
    """Translate an exception of the openai or anthropic SDK (same hierarchy in both) into a ProviderError."""
    if isinstance(exc, sdk.APIStatusError):
        response = exc.response
        status = exc.status_code
        retry_after = parse_retry_after(response.headers) if response is not None else None
        return ProviderError(_short(exc), kind_for_status(status), status=status, retry_after=retry_after)
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderError("The provider did not answer in time.", "timeout")
    if isinstance(exc, sdk.APIConnectionError):
        refusal = _refusal(exc)
        if refusal is not None and not isinstance(refusal, UnresolvableError):
            # Refused as the connection opened (promptlib/providers/transport.py): no retry will help.
            return ProviderError(f"The provider's address may not be called: {refusal.message}", "refused")
        reason = refusal.message if refusal is not None else exc.__cause__ or exc
        return ProviderError(f"Could not reach the provider: {reason}", "connection")
    return ProviderError(f"Unexpected answer from the provider: {exc}", "server")


def _refusal(exc: BaseException) -> OutboundRefusedError | None:
    """The outbound policy's refusal among the causes of an SDK's connection error, if that is what it was."""
    while exc is not None:
        if isinstance(exc, OutboundRefusedError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _short(exc: Exception, limit: int = 500) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + "…"


def elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
