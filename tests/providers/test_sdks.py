"""The OpenAI and Anthropic providers against the wire-format stand-in, through the real SDKs."""

import socket

import pytest

from promptlib.providers import ChatRequest, ProviderError, provider_for
from promptlib.providers.anthropic import DEFAULT_MAX_TOKENS, AnthropicProvider
from promptlib.providers.openai import OpenAIProvider

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Name: Ann"},
    {"role": "assistant", "content": "Hi Ann!"},
    {"role": "user", "content": "Name: Bob"},
]
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}}


def _complete(standin, kind, **request):
    provider = provider_for(standin.provider_config(kind))
    response = provider.complete(ChatRequest(**{"model": "model-x", "messages": MESSAGES, **request}))
    return response, standin.stats()["bodies"][-1]


@pytest.mark.parametrize(
    ("kind", "id_prefix", "finish"), [("openai", "chatcmpl-", "stop"), ("anthropic", "msg_", "end_turn")]
)
def test_it_returns_the_text_and_the_token_usage(standin, kind, id_prefix, finish):
    response, _ = _complete(standin, kind)
    assert response.text == "Stand-in answer to: Name: Bob"
    assert response.input_tokens > 0 and response.output_tokens == len(response.text) // 4
    assert (response.model, response.finish_reason) == ("model-x", finish)
    assert response.raw_id.startswith(id_prefix)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_it_measures_latency(standin, kind):
    standin.set_latency(0.05)
    response, _ = _complete(standin, kind)
    assert response.latency_ms >= 50


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_it_sends_the_key_from_the_named_environment_variable(standin, kind, monkeypatch):
    monkeypatch.setenv("PROMPTLIB_KEY_STANDIN", "sk-from-env")
    provider = provider_for(standin.provider_config(kind, api_key_env="PROMPTLIB_KEY_STANDIN"))
    provider.complete(ChatRequest(model="m", messages=MESSAGES))
    headers = standin.stats()["headers"][0]
    # OpenAI and newer Anthropic SDKs send a bearer token, older Anthropic ones x-api-key.
    assert "sk-from-env" in (headers.get("x-api-key"), headers.get("authorization", "").removeprefix("Bearer "))


def test_openai_gets_the_messages_and_settings_unchanged(standin):
    _, body = _complete(standin, "openai", temperature=0.2, max_tokens=50)
    assert body["messages"] == MESSAGES
    assert (body["temperature"], body["max_tokens"]) == (0.2, 50)


def test_openai_is_asked_for_json_through_response_format(standin):
    _, body = _complete(standin, "openai", json_schema=SCHEMA)
    assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA}}


def test_anthropic_gets_the_system_prompt_apart_and_the_few_shot_turns_in_order(standin):
    _, body = _complete(standin, "anthropic")
    assert (body["system"], body["messages"]) == ("You are terse.", MESSAGES[1:])


def test_anthropic_gets_no_temperature_which_its_current_api_rejects(standin):
    _, body = _complete(standin, "anthropic", temperature=0.2)
    assert "temperature" not in body


def test_anthropic_gets_a_default_max_tokens_which_its_api_requires(standin):
    _, body = _complete(standin, "anthropic")
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS


def test_anthropic_is_asked_for_json_through_output_config(standin):
    _, body = _complete(standin, "anthropic", json_schema=SCHEMA)
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_stream_that_stalls_past_the_timeout_is_a_timeout_error(standin, kind):
    # Each SDK raises its own HTTP library's errors mid-stream (anthropic 2.x: httpx2, not httpx).
    standin.state.control({"stream_delay": 1.0})
    provider = provider_for(standin.provider_config(kind, timeout_seconds=0.3))
    with pytest.raises(ProviderError) as caught:
        list(provider.stream(ChatRequest(model="model-x", messages=MESSAGES)))
    assert caught.value.kind == "timeout"


@pytest.mark.parametrize("cls", [OpenAIProvider, AnthropicProvider])
def test_the_sdk_warm_up_runs_a_whole_call_without_touching_the_network(cls, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the warm-up opened a connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    cls.warm_up()  # raises if the SDK could not build the request or read the answer


@pytest.mark.parametrize("mode", ["json_schema", "json_object", "none"])
def test_openai_sends_exactly_what_the_sdks_create_sends(standin, mode):
    # complete() posts through the SDK's client.post (no argument walk); the request must not change.
    provider = provider_for(standin.provider_config("openai", structured_output=mode))
    request = ChatRequest(model="model-x", messages=MESSAGES, temperature=0.2, max_tokens=50, json_schema=SCHEMA)
    provider.complete(request)
    provider.client.chat.completions.create(model="model-x", **provider._options(request))
    stats = standin.stats()
    assert stats["bodies"][0] == stats["bodies"][1]
    assert stats["paths"][0] == stats["paths"][1]
    varying = {"x-stainless-retry-count", "x-stainless-read-timeout", "idempotency-key"}
    first, second = ({k: v for k, v in h.items() if k.lower() not in varying} for h in stats["headers"][:2])
    assert first == second and "authorization" in {k.lower() for k in first}
