"""Which key a provider sends and where: stored secret, allowed variables, operator-listed hosts."""

import pytest

from promptlib.core.errors import DomainError
from promptlib.providers import ProviderError, provider_for
from promptlib.providers.models import ProviderConfig
from promptlib.providers.policy import LOCAL_DUMMY_KEY, api_key_for, call_check, key_env_allowed
from promptlib.providers.services import provider_config_create

PASTED = "sk-proj-pasted-0123456789abcd"


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "PROMPTLIB_KEY_ACME_OPENAI"])
def test_the_default_list_allows_the_provider_variables(name):
    assert key_env_allowed(name)


@pytest.mark.parametrize(
    "name", ["DATABASE_URL", "SECRET_KEY", "REDIS_URL", "PROMPTLIB_SECRETS_KEY", "AWS_SECRET_ACCESS_KEY"]
)
def test_the_default_list_refuses_the_servers_own_variables(name):
    assert not key_env_allowed(name)


def test_the_servers_secrets_are_refused_even_when_the_operator_lists_them(settings):
    settings.PROMPTLIB_ALLOWED_KEY_ENV = ["*", "DATABASE_URL", "SECRET_KEY", "REDIS_URL", "PROMPTLIB_SECRETS_KEY"]
    assert key_env_allowed("ACME_KEY")
    assert not any(key_env_allowed(n) for n in ("DATABASE_URL", "SECRET_KEY", "REDIS_URL", "PROMPTLIB_SECRETS_KEY"))


def test_saving_a_provider_naming_database_url_is_refused_naming_the_field(acme):
    with pytest.raises(DomainError) as caught:
        provider_config_create(project=acme, name="x", kind="openai", api_key_env="DATABASE_URL")
    assert "not a variable providers may read" in fields(caught.value)["api_key_env"]


def test_an_old_row_naming_database_url_is_refused_at_call_time_without_reading_it(acme, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://app:hunter2@db/app")
    # Saved before the rules (as a migrated row is): no validation ran.
    config = ProviderConfig.objects.create(project=acme, name="old", kind="openai", api_key_env="DATABASE_URL")
    with pytest.raises(ProviderError) as caught:
        provider_for(config)
    assert caught.value.permanent and "hunter2" not in str(caught.value)


def test_an_allowed_variable_keeps_working(acme, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-0123456789")
    config = provider_config_create(project=acme, name="openai", kind="openai", api_key_env="OPENAI_API_KEY")
    assert api_key_for(config) == "sk-from-env-0123456789"


def test_a_stored_key_wins_over_the_variable(acme, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-0123456789")
    config = provider_config_create(
        project=acme, name="openai", kind="openai", api_key_env="OPENAI_API_KEY", api_key=PASTED
    )
    config.refresh_from_db()
    assert PASTED not in config.api_key_encrypted and config.api_key_hint == "…abcd"
    assert api_key_for(config) == PASTED


def test_an_operators_key_is_not_sent_to_an_address_of_the_projects_choosing(acme, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-0123456789")
    with pytest.raises(DomainError) as caught:
        provider_config_create(
            project=acme, name="evil", kind="openai", base_url="https://93.184.216.34/v1", api_key_env="OPENAI_API_KEY"
        )
    assert "own address" in fields(caught.value)["api_key_env"]
    old = ProviderConfig(name="evil", kind="openai", base_url="https://93.184.216.34/v1", api_key_env="OPENAI_API_KEY")
    with pytest.raises(ProviderError) as refused:
        api_key_for(old)
    assert refused.value.permanent


def test_an_operators_key_may_go_to_a_host_the_operator_lists(acme, monkeypatch, settings):
    settings.PROMPTLIB_PROVIDER_HOSTS = ["93.184.216.34"]
    monkeypatch.setenv("PROMPTLIB_KEY_GATEWAY", "sk-gateway-0123456789")
    config = provider_config_create(
        project=acme, name="gw", kind="openai", base_url="https://93.184.216.34/v1", api_key_env="PROMPTLIB_KEY_GATEWAY"
    )
    assert api_key_for(config) == "sk-gateway-0123456789"


def test_a_pasted_key_may_go_to_any_public_address(acme):
    config = provider_config_create(
        project=acme, name="router", kind="openai", base_url="https://93.184.216.34/v1", api_key=PASTED
    )
    assert api_key_for(config) == PASTED


def test_a_loopback_server_gets_the_dummy_key_only_while_loopback_is_allowed(settings):
    config = ProviderConfig(name="ollama", kind="openai", base_url="http://127.0.0.1:11434/v1")
    assert api_key_for(config) == LOCAL_DUMMY_KEY
    settings.PROMPTLIB_ALLOW_LOOPBACK = False
    with pytest.raises(ProviderError):
        api_key_for(config)


def test_a_key_that_cannot_be_decrypted_is_a_permanent_error(acme, settings):
    config = provider_config_create(project=acme, name="p", kind="openai", api_key=PASTED)
    settings.PROMPTLIB_SECRETS_KEYS = ["A" * 43 + "="]
    with pytest.raises(ProviderError, match="PROMPTLIB_SECRETS_KEY") as caught:
        api_key_for(config)
    assert caught.value.permanent


def test_an_address_refused_before_the_call_is_a_permanent_error_never_retried(settings):
    settings.PROMPTLIB_ALLOW_LOOPBACK = False
    config = ProviderConfig(name="p", kind="openai", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ProviderError) as caught:
        call_check(config)
    assert (caught.value.kind, caught.value.permanent) == ("refused", True)


@pytest.mark.parametrize("base_url", ["http://169.254.169.254/v1", "http://10.0.0.7/v1", "file:///etc/passwd"])
def test_saving_a_provider_at_a_refused_address_names_base_url(acme, base_url):
    with pytest.raises(DomainError) as caught:
        provider_config_create(project=acme, name="x", kind="openai", base_url=base_url, api_key=PASTED)
    assert "base_url" in fields(caught.value)


def test_an_operators_key_may_go_to_a_listed_private_range(acme, monkeypatch, settings):
    settings.PROMPTLIB_PROVIDER_HOSTS = ["10.0.0.0/8"]
    monkeypatch.setenv("PROMPTLIB_KEY_VLLM", "vllm-token-0123456789")
    config = provider_config_create(
        project=acme, name="vllm", kind="openai", base_url="http://10.0.0.5:8000/v1", api_key_env="PROMPTLIB_KEY_VLLM"
    )
    assert api_key_for(config) == "vllm-token-0123456789"


def fields(exc: DomainError) -> dict[str, str]:
    return {entry["field"]: entry["message"] for entry in exc.entries()}
