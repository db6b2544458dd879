"""Anthropic's Messages API, through the official SDK."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anthropic
import httpcore2
import httpx2  # the HTTP library of anthropic 2.x (a fork of httpx; its errors are its own)

from promptlib.providers.base import ChatRequest, ChatResponse, Provider, ProviderError, elapsed_ms, error_from_sdk
from promptlib.providers.policy import call_check
from promptlib.providers.registry import cached_client, tls_context
from promptlib.providers.transport import checked_transport

# The Messages API requires max_tokens; templates that leave it unset get this.
DEFAULT_MAX_TOKENS = 1024


class AnthropicProvider(Provider):
    label = "Anthropic"

    def __init__(self, *, config, api_key: str) -> None:
        self.config = config
        self.api_key = api_key
        self.base_url = config.base_url or None
        self.timeout = float(config.timeout_seconds)

    @property
    def client(self) -> anthropic.Anthropic:
        # Looked up per use, not kept: a provider is shared by a chunk's threads, each with its own client.
        return cached_client(("anthropic", self.base_url, self.api_key, self.timeout), self._client_make)

    def _client_make(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            api_key=self.api_key,
            base_url=self.base_url,
            timeout=self.timeout,
            # max_retries=0: retries are the batch runner's, which knows about limits and budgets.
            max_retries=0,
            # No redirects: a 3xx must not lead the call (and its answer) past the outbound policy.
            http_client=anthropic.DefaultHttpxClient(
                timeout=self.timeout,
                follow_redirects=False,
                # Connections only to addresses the outbound policy allows, checked as they open.
                transport=checked_transport(
                    httpx2, httpcore2, verify=tls_context(), limits=anthropic.DEFAULT_CONNECTION_LIMITS
                ),
            ),
        )

    @classmethod
    def warm_up(cls) -> None:
        # As OpenAIProvider.warm_up: one call answered in memory, so the first real one is not slower.
        answer = {
            "id": "msg_warm_up", "type": "message", "role": "assistant", "model": "warm-up",
            "content": [{"type": "text", "text": "{}"}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }  # fmt: skip
        transport = httpx2.MockTransport(lambda _request: httpx2.Response(200, json=answer))
        client = anthropic.Anthropic(
            api_key="warm-up", base_url="http://warm-up.invalid", max_retries=0,
            http_client=httpx2.Client(transport=transport),
        )  # fmt: skip
        client.messages.create(
            model="warm-up", max_tokens=1, system="warm-up", messages=[{"role": "user", "content": "warm-up"}]
        )

    def complete(self, request: ChatRequest) -> ChatResponse:
        call_check(self.config)
        started = time.perf_counter()
        try:
            message = self.client.messages.create(model=request.model, **_options(request))
        except anthropic.APIError as exc:
            raise error_from_sdk(exc, anthropic)
        latency_ms = elapsed_ms(started)
        if message.stop_reason == "refusal":
            raise ProviderError("The model refused to answer.", "refusal")
        text = "".join(block.text for block in message.content if block.type == "text")
        return ChatResponse(
            text=text,
            input_tokens=message.usage.input_tokens,
            output_tokens=message.usage.output_tokens,
            model=message.model or request.model,
            latency_ms=latency_ms,
            raw_id=message.id or "",
            finish_reason=message.stop_reason or "",
        )

    def stream(self, request: ChatRequest) -> Iterator[str | ChatResponse]:
        call_check(self.config)
        started = time.perf_counter()
        try:
            events = self.client.messages.create(model=request.model, stream=True, **_options(request))
        except anthropic.APIError as exc:
            raise error_from_sdk(exc, anthropic)
        parts: list[str] = []
        input_tokens = output_tokens = 0
        model, raw_id, stop = request.model, "", ""
        try:
            with events:  # closing this generator early closes the connection
                for event in events:
                    if event.type == "message_start":
                        message = event.message
                        model, raw_id = message.model or model, message.id or ""
                        input_tokens, output_tokens = message.usage.input_tokens, message.usage.output_tokens
                    elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                        parts.append(event.delta.text)
                        yield event.delta.text
                    elif event.type == "message_delta":
                        stop = event.delta.stop_reason or stop
                        output_tokens = event.usage.output_tokens or output_tokens
        except anthropic.APIError as exc:
            raise error_from_sdk(exc, anthropic)
        except httpx2.TimeoutException:
            raise ProviderError("The provider stopped sending its answer (timeout).", "timeout") from None
        except httpx2.HTTPError as exc:
            raise ProviderError(f"The connection broke while the answer came: {exc}", "connection") from None
        if stop == "refusal":
            raise ProviderError("The model refused to answer.", "refusal")
        yield ChatResponse(
            text="".join(parts),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            model=model,
            latency_ms=elapsed_ms(started),
            raw_id=raw_id,
            finish_reason=stop,
        )

    def models_list(self) -> list[str]:
        call_check(self.config)
        try:
            return [model.id for model in self.client.models.list(limit=100).data]
        except anthropic.APIError as exc:
            raise error_from_sdk(exc, anthropic)


def _options(request: ChatRequest) -> dict:
    # Anthropic takes the system prompt apart; the few-shot user/assistant turns stay in order.
    # No temperature: API version 2026-10-21 (what SDK 2.x speaks) removed the sampling parameters
    # and answers 400 to any of them, so a template's temperature does not apply to Anthropic.
    system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
    options: dict = {
        "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages if m["role"] != "system"],
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
    }
    if system:
        options["system"] = system
    if request.json_schema is not None:
        options["output_config"] = {"format": {"type": "json_schema", "schema": request.json_schema}}
    return options
