"""Writes for provider configurations and their price overrides."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from promptlib.core.errors import DomainError
from promptlib.core.models import Project
from promptlib.providers.demo import DEMO_MODELS
from promptlib.providers.models import ModelPrice, ProviderConfig

DEMO_PROVIDER_NAME = "demo"

# What a provider's settings are, beyond its name (the key is apart: write-only). The API shows these.
CONFIG_FIELDS = (
    *("kind", "base_url", "models", "api_key_env"),
    *("timeout_seconds", "max_concurrency", "rpm_limit", "max_retries", "structured_output"),
)


class ProviderConfigError(DomainError):
    """Bad provider settings: one entry per field at fault in `errors`, the first one as the message."""


def _validated(row) -> None:
    """The model's own checks (field types, choices, the outbound policy) as a DomainError."""
    try:
        row.full_clean()
    except ValidationError as exc:
        problems = [
            ProviderConfigError(message, field="" if field == "__all__" else field)
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
        raise ProviderConfigError(problems[0].message, field=problems[0].field, errors=problems) from None


def provider_config_create(
    *, project: Project, name: str, kind: str, api_key: str | None = None, **fields
) -> ProviderConfig:
    """Validate and save a provider. Bad values raise ProviderConfigError naming the fields.

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
    _validated(config)
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
    _validated(config)
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
        _validated(price)
        price.save()
    return price
