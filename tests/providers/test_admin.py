"""The provider admin: a pasted key is stored encrypted and shown back only as its hint; a named
environment variable shows whether it is set, never its value."""

import pytest
from django.urls import reverse

from promptlib.batches.models import BatchItem
from promptlib.batches.services import batch_run_inline
from promptlib.providers.models import ProviderConfig
from promptlib.providers.services import provider_config_create
from tests.batches_support import make_batch

SECRET = "sk-live-VERY-SECRET-0123456789"


@pytest.fixture
def openai_config(acme, monkeypatch):
    monkeypatch.setenv("PROMPTLIB_KEY_ACME_OPENAI", SECRET)
    return provider_config_create(
        project=acme, name="openai", kind="openai", models=["gpt-4o-mini"], api_key_env="PROMPTLIB_KEY_ACME_OPENAI"
    )


def test_the_change_page_shows_the_variable_name_but_not_the_key(client, alice, openai_config):
    client.force_login(alice)
    response = client.get(reverse("admin:promptlib_providerconfig_change", args=[openai_config.pk]))
    content = response.content.decode()
    assert response.status_code == 200
    assert "PROMPTLIB_KEY_ACME_OPENAI" in content
    assert SECRET not in content and SECRET[:8] not in content


def test_the_list_shows_whether_the_key_variable_is_set(client, alice, openai_config, monkeypatch):
    client.force_login(alice)
    url = reverse("admin:promptlib_providerconfig_changelist")
    assert 'field-key_status">Set<' in client.get(url).content.decode()
    monkeypatch.delenv("PROMPTLIB_KEY_ACME_OPENAI")
    assert "Missing: set PROMPTLIB_KEY_ACME_OPENAI" in client.get(url).content.decode()


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
    assert "PROMPTLIB_KEY_ACME_OPENAI" not in response.content.decode()


# --- the key typed into the admin (issue 10) ------------------------------------------------------

PASTED = "sk-proj-NewcomerPastedThis-0123456789abcd"


def _form(acme, **overrides):
    data = {"project": acme.pk, "name": "openai", "kind": "openai", "base_url": "", "models": "gpt-4o-mini",
            "api_key": "", "api_key_env": "", "timeout_seconds": 60, "max_concurrency": 2, "rpm_limit": 0,
            "max_retries": 0, "prices-TOTAL_FORMS": 0, "prices-INITIAL_FORMS": 0}  # fmt: skip
    return {**data, **overrides}


def test_a_newcomer_pastes_an_openai_key_and_runs_a_batch(client, alice, acme, standin, triage_experiment, tickets):
    client.force_login(alice)
    form = _form(acme, base_url=standin.openai_base_url, models="standin", api_key=PASTED)
    response = client.post(reverse("admin:promptlib_providerconfig_add"), form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    config = ProviderConfig.objects.get(name="openai")
    batch = batch_run_inline(batch=make_batch(triage_experiment, tickets, provider=config, model="standin"))
    assert set(BatchItem.objects.filter(batch=batch).values_list("status", flat=True)) == {"done"}
    assert standin.stats()["headers"][0]["authorization"] == f"Bearer {PASTED}"


def test_the_key_is_shown_back_only_as_its_last_four_characters(client, alice, acme):
    client.force_login(alice)
    client.post(reverse("admin:promptlib_providerconfig_add"), _form(acme, api_key=PASTED))
    config = ProviderConfig.objects.get(name="openai")
    page = client.get(reverse("admin:promptlib_providerconfig_change", args=[config.pk])).content.decode()
    assert "Set, ends in …abcd" in page
    assert PASTED not in page and PASTED[:12] not in page and config.api_key_encrypted not in page
    assert 'type="password" name="api_key"' in page


def test_saving_without_typing_a_key_keeps_the_stored_one(client, alice, acme):
    client.force_login(alice)
    client.post(reverse("admin:promptlib_providerconfig_add"), _form(acme, api_key=PASTED))
    config = ProviderConfig.objects.get(name="openai")
    client.post(reverse("admin:promptlib_providerconfig_change", args=[config.pk]), _form(acme, max_retries=3))
    config.refresh_from_db()
    assert (config.max_retries, config.api_key_hint) == (3, "…abcd")


def test_the_clear_option_forgets_the_stored_key(client, alice, acme):
    client.force_login(alice)
    client.post(reverse("admin:promptlib_providerconfig_add"), _form(acme, api_key=PASTED))
    config = ProviderConfig.objects.get(name="openai")
    form = _form(acme, base_url="http://127.0.0.1:11434/v1", api_key_clear="on")
    client.post(reverse("admin:promptlib_providerconfig_change", args=[config.pk]), form)
    config.refresh_from_db()
    assert (config.api_key_encrypted, config.api_key_hint) == ("", "")


def test_an_editor_cannot_add_a_provider(client, bob, acme):
    client.force_login(bob)
    response = client.post(reverse("admin:promptlib_providerconfig_add"), _form(acme, api_key=PASTED))
    assert response.status_code == 403
    assert not ProviderConfig.objects.exists()


def test_a_viewer_sees_the_provider_without_its_key(client, victor, acme):
    config = provider_config_create(project=acme, name="openai", kind="openai", api_key=PASTED)
    client.force_login(victor)
    response = client.get(reverse("admin:promptlib_providerconfig_change", args=[config.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Set, ends in …abcd" in page and PASTED not in page and 'name="api_key"' not in page


def test_the_admin_refuses_a_server_secret_as_key_variable(client, alice, acme):
    client.force_login(alice)
    response = client.post(reverse("admin:promptlib_providerconfig_add"), _form(acme, api_key_env="DATABASE_URL"))
    assert "not a variable providers may read" in str(response.context["adminform"].form.errors["api_key_env"])
    assert not ProviderConfig.objects.exists()


def test_the_admin_refuses_the_metadata_address(client, alice, acme):
    client.force_login(alice)
    form = _form(acme, base_url="http://169.254.169.254/latest/", api_key=PASTED)
    response = client.post(reverse("admin:promptlib_providerconfig_add"), form)
    assert "never called" in str(response.context["adminform"].form.errors["base_url"])


def test_a_migrated_provider_naming_a_refused_variable_is_flagged_with_what_to_do(client, alice, acme):
    ProviderConfig.objects.create(project=acme, name="legacy", kind="openai", api_key_env="DATABASE_URL")
    client.force_login(alice)
    page = client.get(reverse("admin:promptlib_providerconfig_changelist")).content.decode()
    assert "Refused: DATABASE_URL is not a variable providers may read. Paste the API key" in page


def test_a_migrated_provider_naming_an_allowed_variable_keeps_working(client, alice, acme, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-0123456789")
    ProviderConfig.objects.create(project=acme, name="legacy", kind="openai", api_key_env="OPENAI_API_KEY")
    client.force_login(alice)
    assert 'field-key_status">Set<' in client.get(reverse("admin:promptlib_providerconfig_changelist")).content.decode()


# --- structured output (issue 11) -----------------------------------------------------------------


def test_the_page_offers_the_structured_output_choices_and_says_anthropic_ignores_them(client, alice, acme):
    client.force_login(alice)
    page = client.get(reverse("admin:promptlib_providerconfig_add")).content.decode()
    assert 'name="structured_output"' in page
    assert "llama-cpp-python" in page and "Anthropic ignores this setting" in page


def test_the_admin_changes_the_structured_output(client, alice, acme):
    client.force_login(alice)
    client.post(
        reverse("admin:promptlib_providerconfig_add"), _form(acme, api_key=PASTED, structured_output="json_object")
    )
    config = ProviderConfig.objects.get(name="openai")
    assert config.structured_output == "json_object"
    client.post(reverse("admin:promptlib_providerconfig_change", args=[config.pk]), _form(acme))
    config.refresh_from_db()
    assert config.structured_output == "json_object"  # a form without the field keeps the stored choice
