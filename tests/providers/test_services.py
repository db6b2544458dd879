"""Saving provider configurations and price overrides."""

from decimal import Decimal

import pytest

from promptlib.core.errors import DomainError
from promptlib.providers.models import ProviderConfig
from promptlib.providers.services import (
    model_price_set,
    provider_config_create,
    provider_config_ensure_demo,
    provider_config_update,
)


def test_it_creates_a_provider_with_default_limits(acme):
    config = provider_config_create(
        project=acme, name="openai", kind="openai", models=["gpt-4o-mini"], api_key_env="OPENAI_API_KEY"
    )
    assert (config.timeout_seconds, config.max_concurrency, config.rpm_limit, config.max_retries) == (60, 4, 0, 4)


def test_it_rejects_a_key_value_where_a_variable_name_belongs(acme):
    with pytest.raises(DomainError) as caught:
        provider_config_create(project=acme, name="openai", kind="openai", api_key_env="sk-proj-abc123")
    assert "api_key_env" in fields(caught.value)


def test_it_requires_a_key_variable_for_a_remote_server(acme):
    with pytest.raises(DomainError) as caught:
        provider_config_create(project=acme, name="openai", kind="openai")
    assert "api_key_env" in fields(caught.value)


def test_it_accepts_a_local_server_without_a_key_variable(acme):
    config = provider_config_create(project=acme, name="ollama", kind="openai", base_url="http://localhost:11434/v1")
    assert config.api_key_env == ""


def test_it_rejects_models_that_are_not_a_list_of_names(acme):
    with pytest.raises(DomainError) as caught:
        provider_config_create(project=acme, name="demo", kind="demo", models="gpt-4o-mini")
    assert "models" in fields(caught.value)


def test_it_rejects_a_duplicate_name_in_one_project(acme):
    provider_config_create(project=acme, name="demo", kind="demo")
    with pytest.raises(DomainError):
        provider_config_create(project=acme, name="demo", kind="demo")


def test_it_rejects_an_unknown_kind(acme):
    with pytest.raises(DomainError) as caught:
        provider_config_create(project=acme, name="x", kind="cohere", api_key_env="KEY")
    assert "kind" in fields(caught.value)


def test_it_updates_limits(acme):
    config = provider_config_create(project=acme, name="demo", kind="demo")
    provider_config_update(config=config, max_concurrency=16, rpm_limit=600)
    config.refresh_from_db()
    assert (config.max_concurrency, config.rpm_limit) == (16, 600)


def test_ensure_demo_creates_the_demo_provider_once(acme):
    first = provider_config_ensure_demo(project=acme)
    second = provider_config_ensure_demo(project=acme)
    assert first.pk == second.pk and first.kind == ProviderConfig.Kind.DEMO


def test_setting_a_price_twice_replaces_it(acme):
    config = provider_config_create(project=acme, name="vllm", kind="openai", base_url="http://127.0.0.1:8000/v1")
    model_price_set(provider=config, model="llama-3-8b", input_per_mtok="0.10", output_per_mtok="0.20")
    price = model_price_set(provider=config, model="llama-3-8b", input_per_mtok="0.30", output_per_mtok="0.40")
    assert config.prices.count() == 1
    assert (price.input_per_mtok, price.output_per_mtok) == (Decimal("0.30"), Decimal("0.40"))


def test_it_rejects_a_negative_price(acme):
    config = provider_config_create(project=acme, name="demo", kind="demo")
    with pytest.raises(DomainError) as caught:
        model_price_set(provider=config, model="m", input_per_mtok="-1", output_per_mtok="0")
    assert "input_per_mtok" in fields(caught.value)


def fields(exc: DomainError) -> dict[str, str]:
    return {entry["field"]: entry["message"] for entry in exc.entries()}
