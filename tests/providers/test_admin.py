"""The provider admin shows which environment variable holds the key, never a key."""

import pytest
from django.urls import reverse

from promptlib.providers.services import provider_config_create

SECRET = "sk-live-VERY-SECRET-0123456789"


@pytest.fixture
def openai_config(acme, monkeypatch):
    monkeypatch.setenv("ACME_OPENAI_KEY", SECRET)
    return provider_config_create(
        project=acme, name="openai", kind="openai", models=["gpt-4o-mini"], api_key_env="ACME_OPENAI_KEY"
    )


def test_the_change_page_shows_the_variable_name_but_not_the_key(client, alice, openai_config):
    client.force_login(alice)
    response = client.get(reverse("admin:promptlib_providerconfig_change", args=[openai_config.pk]))
    content = response.content.decode()
    assert response.status_code == 200
    assert "ACME_OPENAI_KEY" in content
    assert SECRET not in content and SECRET[:8] not in content


def test_the_list_shows_whether_the_key_variable_is_set(client, alice, openai_config, monkeypatch):
    client.force_login(alice)
    url = reverse("admin:promptlib_providerconfig_changelist")
    assert 'field-key_status">Set<' in client.get(url).content.decode()
    monkeypatch.delenv("ACME_OPENAI_KEY")
    assert "Missing: set ACME_OPENAI_KEY" in client.get(url).content.decode()


def test_an_editor_may_view_but_not_change_a_provider(client, bob, openai_config):
    client.force_login(bob)
    url = reverse("admin:promptlib_providerconfig_change", args=[openai_config.pk])
    response = client.post(url, {"name": "hijacked"})
    assert response.status_code == 403
    openai_config.refresh_from_db()
    assert openai_config.name == "openai"


def test_another_projects_member_does_not_see_the_provider(client, gina, openai_config):
    client.force_login(gina)
    response = client.get(reverse("admin:promptlib_providerconfig_changelist"))
    assert "ACME_OPENAI_KEY" not in response.content.decode()
