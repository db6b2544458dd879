"""Choosing the provider class for a configuration, and finding its API key."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from promptlib.providers import ProviderError, UnknownProviderKindError, provider_for
from promptlib.providers.anthropic import AnthropicProvider
from promptlib.providers.demo import DemoProvider
from promptlib.providers.models import ProviderConfig
from promptlib.providers.openai import OpenAIProvider
from promptlib.providers.registry import clients_clear


@pytest.mark.parametrize(
    ("kind", "cls"), [("openai", OpenAIProvider), ("anthropic", AnthropicProvider), ("demo", DemoProvider)]
)
def test_it_maps_each_kind_to_its_provider(kind, cls, monkeypatch):
    monkeypatch.setenv("PROMPTLIB_KEY_SOME", "sk-x")
    assert isinstance(provider_for(ProviderConfig(name="p", kind=kind, api_key_env="PROMPTLIB_KEY_SOME")), cls)


def test_it_rejects_an_unknown_kind_naming_the_known_ones():
    with pytest.raises(UnknownProviderKindError, match="Unknown provider kind 'cohere'.*anthropic, demo, openai"):
        provider_for(ProviderConfig(name="p", kind="cohere"))


def test_a_missing_key_variable_is_a_permanent_error_naming_it(monkeypatch):
    monkeypatch.delenv("PROMPTLIB_KEY_ACME_OPENAI", raising=False)
    with pytest.raises(ProviderError, match="PROMPTLIB_KEY_ACME_OPENAI") as caught:
        provider_for(ProviderConfig(name="p", kind="openai", api_key_env="PROMPTLIB_KEY_ACME_OPENAI"))
    assert caught.value.permanent


def test_a_remote_server_without_a_key_variable_is_a_permanent_error():
    with pytest.raises(ProviderError, match="api_key_env") as caught:
        provider_for(ProviderConfig(name="p", kind="openai", base_url="https://api.example.com/v1"))
    assert caught.value.permanent


def test_a_local_server_needs_no_key():
    provider = provider_for(ProviderConfig(name="ollama", kind="openai", base_url="http://localhost:11434/v1"))
    assert isinstance(provider, OpenAIProvider)


def test_it_reuses_one_sdk_client_per_endpoint_and_key(monkeypatch):
    monkeypatch.setenv("PROMPTLIB_KEY_SOME", "sk-x")
    config = ProviderConfig(name="p", kind="openai", base_url="http://127.0.0.1:9/v1", api_key_env="PROMPTLIB_KEY_SOME")
    assert provider_for(config).client is provider_for(config).client
    monkeypatch.setenv("PROMPTLIB_KEY_SOME", "sk-rotated")
    assert provider_for(config).client.api_key == "sk-rotated"


def test_each_thread_has_its_own_client_so_threads_never_wait_on_one_connection_pool(monkeypatch):
    monkeypatch.setenv("PROMPTLIB_KEY_SOME", "sk-x")
    config = ProviderConfig(name="p", kind="openai", base_url="http://127.0.0.1:9/v1", api_key_env="PROMPTLIB_KEY_SOME")
    shared = provider_for(config)  # as a batch chunk's threads share one provider
    mine = shared.client
    with ThreadPoolExecutor(2) as pool:
        theirs = list(pool.map(lambda _: (shared.client, provider_for(config).client), range(2)))
    assert all(first is second for first, second in theirs)  # reused within a thread
    assert all(first is not mine for first, _ in theirs)
    assert shared.client is mine


def test_clients_clear_drops_the_cached_clients(monkeypatch):
    monkeypatch.setenv("PROMPTLIB_KEY_SOME", "sk-x")
    config = ProviderConfig(name="p", kind="anthropic", base_url="http://127.0.0.1:9", api_key_env="PROMPTLIB_KEY_SOME")
    before = provider_for(config).client
    clients_clear()
    assert provider_for(config).client is not before
