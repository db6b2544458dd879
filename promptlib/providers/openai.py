"""OpenAI and every OpenAI-compatible server (Ollama, vLLM, LM Studio…), through the official SDK."""

from __future__ import annotations

import time

import openai

from promptlib.providers.base import ChatRequest, ChatResponse, Provider, ProviderError, elapsed_ms, error_from_sdk
from promptlib.providers.policy import call_check
from promptlib.providers.registry import cached_client


class OpenAIProvider(Provider):
    label = "OpenAI-compatible"

    def __init__(self, *, config, api_key: str) -> None:
        self.config = config
        self.api_key = api_key
        self.base_url = config.base_url or None
        timeout = float(config.timeout_seconds)
        self.client = cached_client(
            ("openai", self.base_url, api_key, timeout),
            # max_retries=0: retries are the batch runner's, which knows about limits and budgets.
            # No redirects: a 3xx must not lead the call (and its answer) past the outbound policy.
            lambda: openai.OpenAI(
                api_key=api_key,
                base_url=self.base_url,
                timeout=timeout,
                max_retries=0,
                http_client=openai.DefaultHttpxClient(timeout=timeout, follow_redirects=False),
            ),
        )

    def complete(self, request: ChatRequest) -> ChatResponse:
        call_check(self.config)
        started = time.perf_counter()
        try:
            completion = self.client.chat.completions.create(model=request.model, **self._options(request))
        except openai.APIError as exc:
            raise error_from_sdk(exc, openai)
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

    def _options(self, request: ChatRequest) -> dict:
        options: dict = {"messages": request.messages}
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if request.max_tokens is not None:
            # OpenAI's own reasoning models refuse max_tokens; compatible servers may not know the new name.
            options["max_completion_tokens" if self.base_url is None else "max_tokens"] = request.max_tokens
        if request.json_schema is not None:
            options["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": request.json_schema},
            }
        return options
