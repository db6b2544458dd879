"""Writes for provider configurations and their price overrides."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from promptlib.core.models import Project
from promptlib.providers.demo import DEMO_MODELS
from promptlib.providers.models import ModelPrice, ProviderConfig

DEMO_PROVIDER_NAME = "demo"

# What a provider's settings are, beyond its name (the key is apart: write-only). The API shows these.
CONFIG_FIELDS = (
    *("kind", "base_url", "models", "api_key_env"),
    *("timeout_seconds", "max_concurrency", "rpm_limit", "max_retries", "structured_output"),
)


def provider_config_create(
    *, project: Project, name: str, kind: str, api_key: str | None = None, **fields
) -> ProviderConfig:
    """Validate and save a provider. Bad values raise ValidationError naming the field.

    `api_key` is stored encrypted and never shown again. `fields` are ProviderConfig fields: base_url,
    models, api_key_env (the NAME of an allowed variable, never the key), timeout_seconds,
    max_concurrency, rpm_limit, max_retries, structured_output. The address and key variable follow
    promptlib/providers/policy.py.
    """
    unknown = set(fields) - set(CONFIG_FIELDS)
    if unknown:
        raise TypeError(f"Unknown provider fields: {', '.join(sorted(unknown))}")
    config = ProviderConfig(project=project, name=name, kind=kind, **fields)
    config.api_key_store(api_key)
    config.full_clean()
    config.save()
    return config


def provider_config_update(
    *, config: ProviderConfig, api_key: str | None = None, api_key_clear: bool = False, **fields
) -> ProviderConfig:
    """Change fields; `api_key` replaces the stored key, `api_key_clear` forgets it (None leaves it)."""
    unknown = set(fields) - set(CONFIG_FIELDS)
    if unknown:
        raise TypeError(f"Unknown provider fields: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        setattr(config, name, value)
    changed = [*fields]
    if api_key or api_key_clear:
        config.api_key_store(api_key or None)
        changed += ["api_key_encrypted", "api_key_hint"]
    config.full_clean()
    config.save(update_fields=changed)
    return config


def provider_config_ensure_demo(*, project: Project) -> ProviderConfig:
    """The project's offline demo provider, created on first use, so a batch runs with no setup."""
    config, _ = ProviderConfig.objects.get_or_create(
        project=project,
        name=DEMO_PROVIDER_NAME,
        defaults={"kind": ProviderConfig.Kind.DEMO, "models": list(DEMO_MODELS), "max_concurrency": 8},
    )
    return config


def model_price_set(
    *, provider: ProviderConfig, model: str, input_per_mtok: Decimal | str, output_per_mtok: Decimal | str
) -> ModelPrice:
    """Set (or replace) the USD-per-million-token price of one model of a provider."""
    with transaction.atomic():
        price = ModelPrice.objects.select_for_update().filter(provider=provider, model=model).first()
        price = price or ModelPrice(provider=provider, model=model)
        price.input_per_mtok = Decimal(str(input_per_mtok))
        price.output_per_mtok = Decimal(str(output_per_mtok))
        price.full_clean()
        price.save()
    return price
