"""What a call cost: overrides, the bundled price list, and free local models."""

from decimal import Decimal

import pytest

from promptlib.providers.pricing import cost_usd, listed_cost
from promptlib.providers.services import model_price_set, provider_config_create


@pytest.fixture
def openai_config(acme):
    return provider_config_create(project=acme, name="openai", kind="openai", api_key_env="OPENAI_API_KEY")


def test_a_known_model_has_a_positive_price(openai_config):
    cost, known = cost_usd(provider_config=openai_config, model="gpt-4o-mini", input_tokens=1000, output_tokens=500)
    assert known and cost > 0


def test_the_price_grows_with_the_tokens(openai_config):
    small = cost_usd(provider_config=openai_config, model="gpt-4o-mini", input_tokens=1000, output_tokens=0)
    large = cost_usd(provider_config=openai_config, model="gpt-4o-mini", input_tokens=2000, output_tokens=0)
    assert large.usd == 2 * small.usd


def test_an_anthropic_model_is_priced_by_the_anthropic_list():
    assert listed_cost(kind="anthropic", base_url="", model="claude-3-5-haiku-latest", input_tokens=1000,
                       output_tokens=1000).known  # fmt: skip


def test_an_override_wins_over_the_list(openai_config):
    model_price_set(provider=openai_config, model="gpt-4o-mini", input_per_mtok="1", output_per_mtok="2")
    cost = cost_usd(provider_config=openai_config, model="gpt-4o-mini", input_tokens=1_000_000, output_tokens=500_000)
    assert cost == (Decimal("2"), True)


def test_an_unknown_self_hosted_model_costs_nothing(acme):
    config = provider_config_create(project=acme, name="vllm", kind="openai", base_url="http://127.0.0.1:8000/v1")
    assert cost_usd(provider_config=config, model="llama-3-8b", input_tokens=10**6, output_tokens=10**6) == (0, False)


def test_a_priced_self_hosted_model_costs_its_override(acme):
    config = provider_config_create(project=acme, name="vllm", kind="openai", base_url="http://127.0.0.1:8000/v1")
    model_price_set(provider=config, model="llama-3-8b", input_per_mtok="0.5", output_per_mtok="0.5")
    assert cost_usd(provider_config=config, model="llama-3-8b", input_tokens=10**6, output_tokens=10**6).usd == 1


def test_a_model_the_list_does_not_know_costs_nothing_and_says_so(openai_config):
    cost = cost_usd(provider_config=openai_config, model="gpt-nonexistent-9", input_tokens=1000, output_tokens=1000)
    assert cost == (0, False)


def test_the_demo_costs_nothing(acme):
    config = provider_config_create(project=acme, name="demo", kind="demo")
    assert cost_usd(provider_config=config, model="gpt-4o-mini", input_tokens=1000, output_tokens=1000) == (0, False)


def test_a_hosted_compatible_endpoint_is_priced_by_its_url():
    cost = listed_cost(
        kind="openai", base_url="https://openrouter.ai/api/v1", model="openai/gpt-4o-mini", input_tokens=1000,
        output_tokens=0,
    )  # fmt: skip
    assert cost.known and cost.usd > 0
