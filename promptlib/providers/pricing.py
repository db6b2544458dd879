"""What a call cost, in USD.

Order: the provider's ModelPrice override, then genai-prices' bundled price list (never its
auto-update: no network at runtime), else 0 and `known=False` (the demo, self-hosted models).
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from genai_prices import Usage, calc_price

from promptlib.providers.models import ModelPrice, ProviderConfig
from promptlib.providers.registry import is_local_url

MILLION = Decimal(1_000_000)
ZERO = Decimal(0)


class Cost(NamedTuple):
    usd: Decimal
    known: bool  # False: no price found, so usd is 0 and totals are lower bounds


def cost_usd(*, provider_config: ProviderConfig, model: str, input_tokens: int, output_tokens: int) -> Cost:
    """The cost of one call: `cost, known = cost_usd(provider_config=..., model=..., ...)`."""
    override = ModelPrice.objects.filter(provider=provider_config, model=model).first()
    if override is not None:
        usd = (input_tokens * override.input_per_mtok + output_tokens * override.output_per_mtok) / MILLION
        return Cost(usd, True)
    return listed_cost(
        kind=provider_config.kind,
        base_url=provider_config.base_url,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )


def listed_cost(*, kind: str, base_url: str, model: str, input_tokens: int, output_tokens: int) -> Cost:
    """The cost from genai-prices' bundled list; Cost(0, False) when it does not know the model."""
    if kind == "demo" or is_local_url(base_url):
        return Cost(ZERO, False)
    # The provider's own endpoint is found by id; a compatible one (OpenRouter, Groq…) by its URL.
    where = {"provider_api_url": base_url} if base_url else {"provider_id": kind}
    try:
        price = calc_price(Usage(input_tokens=input_tokens, output_tokens=output_tokens), model, **where)
    except LookupError:
        return Cost(ZERO, False)
    return Cost(Decimal(price.total_price), True)
