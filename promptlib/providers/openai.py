"""OpenAI and every OpenAI-compatible server (Ollama, vLLM, LM Studio…), through the official SDK."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpcore2
import httpx2  # the HTTP library of openai 3.x (a fork of httpx; its errors are its own)
import openai
from openai.types.chat import ChatCompletion

from promptlib.providers.base import (
    ChatRequest,
    ChatResponse,
    EmbeddingResponse,
    Provider,
    ProviderError,
    elapsed_ms,
    error_from_sdk,
)
from promptlib.providers.models import ProviderConfig
from promptlib.providers.policy import call_check
from promptlib.providers.registry import cached_client, tls_context
from promptlib.providers.transport import checked_transport

# What a server's error says when it does not take the response_format it was sent
# ("Input should be 'text' or 'json_object'" is llama-cpp-python's, answered with a 500).
_FORMAT_REFUSAL_MARKS = ("response_format", "Input should be 'text' or 'json_object'")
_FORMAT_REFUSAL_STATUSES = (400, 422)  # and any 5xx
# How a refused response_format is said (the probe in promptlib/providers/probe.py looks for it).
FORMAT_REFUSED = "The server refused response_format"
MAX_MODELS_LISTED = 500


def is_format_refusal(exc: ProviderError) -> bool:
    """Whether a call failed only because the server does not take the response_format it was sent."""
    return exc.kind == "bad_request" and exc.message.startswith(FORMAT_REFUSED)


class OpenAIProvider(Provider):
    label = "OpenAI-compatible"

    def __init__(self, *, config, api_key: str) -> None:
        self.config = config
        self.api_key = api_key
        self.base_url = config.base_url or None
        self.timeout = float(config.timeout_seconds)

    @property
    def client(self) -> openai.OpenAI:
        # Looked up per use, not kept: a provider is shared by a chunk's threads, each with its own client.
        return cached_client(("openai", self.base_url, self.api_key, self.timeout), self._client_make)

    def _client_make(self) -> openai.OpenAI:
        return openai.OpenAI(
            api_key=self.api_key,
            base_url=self.base_url,
            timeout=self.timeout,
            # max_retries=0: retries are the batch runner's, which knows about limits and budgets.
            max_retries=0,
            # No redirects: a 3xx must not lead the call (and its answer) past the outbound policy.
            http_client=openai.DefaultHttpxClient(
                timeout=self.timeout,
                follow_redirects=False,
                # Connections only to addresses the outbound policy allows, checked as they open.
                transport=checked_transport(
                    httpx2, httpcore2, verify=tls_context(), limits=openai.DEFAULT_CONNECTION_LIMITS
                ),
            ),
        )

    @classmethod
    def warm_up(cls) -> None:
        # One call answered in memory: loads the SDK's lazy modules and builds its pydantic validators,
        # which made a fresh process's first call ~50 ms slower than the next.
        answer = {
            "id": "warm-up", "object": "chat.completion", "created": 0, "model": "warm-up",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }  # fmt: skip
        transport = httpx2.MockTransport(lambda _request: httpx2.Response(200, json=answer))
        client = openai.OpenAI(
            api_key="warm-up", base_url="http://warm-up.invalid/v1", max_retries=0,
            http_client=httpx2.Client(transport=transport),
        )  # fmt: skip
        messages = [{"role": "system", "content": "warm-up"}, {"role": "user", "content": "warm-up"}]
        client.chat.completions.create(
            model="warm-up", messages=messages, temperature=0, max_tokens=1, response_format={"type": "json_object"}
        )

    def complete(self, request: ChatRequest) -> ChatResponse:
        call_check(self.config)
        started = time.perf_counter()
        try:
            # The SDK's documented post() for the same request `chat.completions.create` sends: it skips
            # the SDK's walk of the arguments through their TypedDict annotations (for renamed keys, which
            # chat completions have none of), ~15% of a batch worker's CPU per call. The answer is
            # parsed into the same ChatCompletion; tests/providers/test_sdks.py checks the wire format.
            completion = self.client.post(
                "/chat/completions",
                body={"model": request.model, **self._options(request)},
                cast_to=ChatCompletion,
                options={"security": {"bearer_auth": True}},
            )
        except openai.APIError as exc:
            raise self._format_refused(exc, request) or error_from_sdk(exc, openai)
        latency_ms = elapsed_ms(started)
        if not completion.choices:
            raise ProviderError("The provider returned no choices.", "server")
        choice = completion.choices[0]
        if choice.message.refusal:
            raise ProviderError(f"The model refused: {choice.message.refusal}", "refusal")
        if choice.finish_reason == "content_filter":
            raise ProviderError("The provider's content filter blocked the answer.", "refusal")
        usage = completion.usage
        return ChatResponse(
            text=choice.message.content or "",
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
            model=completion.model or request.model,
            latency_ms=latency_ms,
            raw_id=completion.id or "",
            finish_reason=choice.finish_reason or "",
        )

    def stream(self, request: ChatRequest) -> Iterator[str | ChatResponse]:
        call_check(self.config)
        started = time.perf_counter()
        options = {**self._options(request), "stream": True, "stream_options": {"include_usage": True}}
        try:
            chunks = self._stream_open(request, options)
        except openai.APIError as exc:
            raise self._format_refused(exc, request) or error_from_sdk(exc, openai)
        parts: list[str] = []
        usage, model, raw_id, finish, refusal = None, request.model, "", "", ""
        try:
            with chunks:  # closing this generator early closes the connection
                for chunk in chunks:
                    raw_id, model, usage = chunk.id or raw_id, chunk.model or model, chunk.usage or usage
                    for choice in chunk.choices[:1]:
                        refusal += getattr(choice.delta, "refusal", None) or ""
                        finish = choice.finish_reason or finish
                        if choice.delta.content:
                            parts.append(choice.delta.content)
                            yield choice.delta.content
        except openai.APIError as exc:
            raise error_from_sdk(exc, openai)
        except httpx2.TimeoutException:
            raise ProviderError("The provider stopped sending its answer (timeout).", "timeout") from None
        except httpx2.HTTPError as exc:
            raise ProviderError(f"The connection broke while the answer came: {exc}", "connection") from None
        if refusal:
            raise ProviderError(f"The model refused: {refusal}", "refusal")
        if finish == "content_filter":
            raise ProviderError("The provider's content filter blocked the answer.", "refusal")
        yield ChatResponse(
            text="".join(parts),
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
            model=model,
            latency_ms=elapsed_ms(started),
            raw_id=raw_id,
            finish_reason=finish,
        )

    def _stream_open(self, request: ChatRequest, options: dict):
        try:
            return self.client.chat.completions.create(model=request.model, **options)
        except openai.APIStatusError as exc:
            # A server that does not know stream_options (usage at the end) still streams without it.
            if exc.status_code in (400, 422) and "stream_options" in str(exc):
                options = {k: v for k, v in options.items() if k != "stream_options"}
                return self.client.chat.completions.create(model=request.model, **options)
            raise

    def models_list(self) -> list[str]:
        call_check(self.config)
        try:
            page = self.client.models.list()
            return [model.id for _, model in zip(range(MAX_MODELS_LISTED), page, strict=False)]
        except openai.APIError as exc:
            raise error_from_sdk(exc, openai)

    def embed(self, *, model: str, inputs: list[str]) -> EmbeddingResponse:
        call_check(self.config)
        started = time.perf_counter()
        try:
            answer = self.client.embeddings.create(model=model, input=inputs, encoding_format="float")
        except openai.APIError as exc:
            raise error_from_sdk(exc, openai)
        data = sorted(answer.data, key=lambda item: item.index)
        if len(data) != len(inputs):
            raise ProviderError(f"The provider returned {len(data)} vectors for {len(inputs)} inputs.", "server")
        return EmbeddingResponse(
            vectors=[list(item.embedding) for item in data],
            input_tokens=answer.usage.prompt_tokens if answer.usage else 0,
            model=answer.model or model,
            latency_ms=elapsed_ms(started),
        )

    def _options(self, request: ChatRequest) -> dict:
        options: dict = {"messages": request.messages}
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if request.max_tokens is not None:
            # OpenAI's own reasoning models refuse max_tokens; compatible servers may not know the new name.
            options["max_completion_tokens" if self.base_url is None else "max_tokens"] = request.max_tokens
        response_format = self._response_format(request)
        if response_format is not None:
            options["response_format"] = response_format
        return options

    def _mode(self) -> str:
        return self.config.structured_output or ProviderConfig.StructuredOutput.JSON_SCHEMA

    def _response_format(self, request: ChatRequest) -> dict | None:
        """What the provider's structured-output setting asks the server for (None: the prompt alone asks)."""
        if request.json_schema is None:
            return None
        mode = self._mode()
        if mode == ProviderConfig.StructuredOutput.JSON_OBJECT:
            # llama-cpp-python's shape: JSON mode constrained by the schema.
            return {"type": "json_object", "schema": request.json_schema}
        if mode == ProviderConfig.StructuredOutput.NONE:
            return None
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": request.json_schema}}

    def _format_refused(self, exc: openai.APIError, request: ChatRequest) -> ProviderError | None:
        """A server that refuses the response_format sent refuses it every time: permanent, saying what to change."""
        if not isinstance(exc, openai.APIStatusError) or self._response_format(request) is None:
            return None
        if exc.status_code not in _FORMAT_REFUSAL_STATUSES and exc.status_code < 500:
            return None  # a rate limit, a key or a model is the problem, whatever the text says
        detail = f"{exc} {getattr(exc.response, 'text', '') or ''}"
        if not any(mark in detail for mark in _FORMAT_REFUSAL_MARKS):
            return None
        mode = self._mode()
        others = " or ".join(m for m in ProviderConfig.StructuredOutput.values if m != mode)
        said = exc.message if len(exc.message) <= 300 else exc.message[:300] + "…"
        return ProviderError(
            f"{FORMAT_REFUSED} {mode}; set the provider's structured output to {others}. (The server said: {said})",
            "bad_request",
            status=exc.status_code,
        )
