"""What a provider may use and where it may call: its key, the variables it may name, its address.

Checked when a provider is saved (a DomainError naming the field) and again before each call
(`call_check` → a permanent ProviderError), so a row saved before these rules, or a name that now
resolves elsewhere, cannot send a secret where it must not go.

A provider's key is the one stored encrypted on it if set, else the environment variable it names
when the operator allows that name (settings.PROMPTLIB_ALLOWED_KEY_ENV), else a dummy key for a
loopback server. A key from the environment belongs to the operator, not the project: it is sent only
to the provider's own address or to hosts the operator lists (settings.PROMPTLIB_PROVIDER_HOSTS).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from django.conf import settings

from promptlib.core.errors import DomainError
from promptlib.core.outbound import (
    OutboundRefusedError,
    UnresolvableError,
    addresses_check,
    host_addresses,
    host_listed,
    url_check,
)
from promptlib.core.secrets import SecretUnreadableError, secret_decrypt
from promptlib.providers.base import ProviderError

# Never a provider key, whatever the operator lists: the server's own secrets.
FORBIDDEN_KEY_ENV = frozenset({"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "PROMPTLIB_SECRETS_KEY"})
# Local servers (Ollama, vLLM, the test stand-ins) accept any key; the SDKs insist on one.
LOCAL_DUMMY_KEY = "not-needed"
# The providers' own addresses, where an operator's key may always go.
OFFICIAL_HOSTS = {"openai": {"api.openai.com"}, "anthropic": {"api.anthropic.com"}}


class ProviderPolicyError(DomainError):
    code = "not_allowed"


def key_env_allowed(name: str) -> bool:
    if not name or name in FORBIDDEN_KEY_ENV:
        return False
    for entry in settings.PROMPTLIB_ALLOWED_KEY_ENV:
        if entry == name or (entry.endswith("*") and name.startswith(entry[:-1])):
            return True
    return False


def key_env_check(name: str) -> None:
    if name and not key_env_allowed(name):
        allowed = ", ".join(entry for entry in settings.PROMPTLIB_ALLOWED_KEY_ENV if entry not in FORBIDDEN_KEY_ENV)
        raise ProviderPolicyError(
            f"{name} is not a variable providers may read. Paste the API key instead, or use one of: {allowed} "
            "(the operator lists them in PROMPTLIB_ALLOWED_KEY_ENV).",
            field="api_key_env",
        )


def base_url_check(base_url: str, *, at_call: bool = False) -> None:
    """The outbound policy for a provider address (blank: the SDK's own endpoint, always allowed)."""
    if base_url:
        url_check(
            base_url,
            field="base_url",
            allowed=settings.PROMPTLIB_PROVIDER_HOSTS,
            allow_loopback=settings.PROMPTLIB_ALLOW_LOOPBACK,
            allow_unresolved=not at_call,
        )


def connect_addresses(host: str, port: int) -> list:
    """As a connection opens: the addresses `host` resolves to, each one this server may call.

    Raises OutboundRefusedError (or UnresolvableError) like base_url_check at the call.
    """
    return addresses_check(
        host.strip("[]").rstrip(".").lower(), port, field="base_url",
        allowed=settings.PROMPTLIB_PROVIDER_HOSTS, allow_loopback=settings.PROMPTLIB_ALLOW_LOOPBACK,
    )  # fmt: skip


def env_key_destination_check(*, kind: str, base_url: str) -> None:
    """An operator's key (from the environment) goes only to the provider's own address or a listed host."""
    if not base_url:
        return
    host = (urlsplit(base_url).hostname or "").rstrip(".").lower()
    if host in OFFICIAL_HOSTS.get(kind, ()) or is_loopback_url(base_url):
        return
    if host_listed(host, settings.PROMPTLIB_PROVIDER_HOSTS):
        return
    raise ProviderPolicyError(
        f"A key from an environment variable is sent only to the provider's own address, and {host} is not one "
        "the operator lists (PROMPTLIB_PROVIDER_HOSTS). Paste this server's API key instead.",
        field="api_key_env",
    )


def is_loopback_url(url: str) -> bool:
    """Whether `url` names this machine and the operator allows calling it (a local Ollama, the stand-ins)."""
    if not url or not settings.PROMPTLIB_ALLOW_LOOPBACK:
        return False
    parts = urlsplit(url)
    try:
        addresses = host_addresses(parts.hostname or "", parts.port or 80)
    except (UnresolvableError, ValueError):
        return False
    return bool(addresses) and all(address.is_loopback for address in addresses)


def config_check(config) -> None:
    """Every rule above for a ProviderConfig being saved: a DomainError naming the first field at fault."""
    base_url_check(config.base_url)
    key_env_check(config.api_key_env)
    if config.api_key_env and not config.api_key_encrypted:
        env_key_destination_check(kind=config.kind, base_url=config.base_url)


def api_key_for(config) -> str:
    """The key to send now; a permanent ProviderError (kind "auth") when there is none it may use."""
    if config.kind == "demo":
        return ""
    if config.api_key_encrypted:
        try:
            return secret_decrypt(config.api_key_encrypted)
        except SecretUnreadableError as exc:
            raise ProviderError(exc.message, "auth") from None
    if config.api_key_env:
        try:
            key_env_check(config.api_key_env)
            env_key_destination_check(kind=config.kind, base_url=config.base_url)
        except ProviderPolicyError as exc:
            raise ProviderError(exc.message, "auth") from None
        key = os.environ.get(config.api_key_env, "")
        if not key:
            raise ProviderError(
                f"The environment variable {config.api_key_env} (API key of provider '{config.name}') is not set.",
                "auth",
            )
        return key
    if is_loopback_url(config.base_url):
        return LOCAL_DUMMY_KEY
    raise ProviderError(
        f"Provider '{config.name}' has no API key: paste it in the provider's API key field (or set api_key_env "
        "to an allowed variable, e.g. OPENAI_API_KEY).",
        "auth",
    )


def call_check(config) -> None:
    """Right before each call: the address is still one this server may call (after DNS resolution)."""
    try:
        base_url_check(config.base_url, at_call=True)
    except UnresolvableError as exc:  # DNS may answer again later
        raise ProviderError(f"Could not reach the provider: {exc.message}", "connection") from None
    except OutboundRefusedError as exc:
        raise ProviderError(f"{config.base_url} may not be called: {exc.message}", "refused") from None
