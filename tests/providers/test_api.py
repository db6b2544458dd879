"""The provider endpoints: publishers (and keys with the providers scope) add and change providers;
the API key goes in and never comes out."""

import pytest
from rest_framework.test import APIClient

from promptlib.core.apikeys import api_key_create
from promptlib.providers.models import ProviderConfig

pytestmark = pytest.mark.django_db
API = "/api/v1/providers"
PASTED = "sk-proj-pasted-0123456789wxyz"
NEW = {"name": "openai", "kind": "openai", "models": ["gpt-4o-mini"], "api_key": PASTED}


@pytest.fixture
def providers_key(acme):
    return api_key_create(project=acme, scopes="read,write,providers", name="ops")[1]


def _session(user):
    api = APIClient()
    api.force_authenticate(user)
    return api


def test_an_editor_cannot_add_a_provider(bob):
    response = _session(bob).post(API, NEW, format="json")
    assert response.status_code == 403
    assert "publisher" in response.json()["errors"][0]["message"]
    assert not ProviderConfig.objects.exists()


def test_a_write_key_without_the_providers_scope_cannot_add_a_provider(api_client, acme_write_key):
    response = api_client(acme_write_key).post(API, NEW, format="json")
    assert response.status_code == 403
    assert "providers scope" in response.json()["errors"][0]["message"]


def test_a_write_key_cannot_change_a_provider(api_client, acme_write_key, demo_provider):
    response = api_client(acme_write_key).patch(f"{API}/demo", {"base_url": "https://93.184.216.34/v1"}, format="json")
    assert response.status_code == 403


def test_a_viewer_may_list_providers(victor, demo_provider):
    response = _session(victor).get(API)
    assert response.status_code == 200 and response.json()["results"][0]["name"] == "demo"


def test_a_publisher_adds_a_provider_with_its_key_and_never_gets_it_back(alice):
    response = _session(alice).post(API, NEW, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["api_key_set"], body["api_key_hint"]) == (True, "…wxyz")
    assert "api_key" not in body and PASTED not in response.content.decode()
    assert ProviderConfig.objects.get(name="openai").api_key_encrypted not in response.content.decode()


def test_a_key_with_the_providers_scope_adds_a_provider(api_client, providers_key):
    response = api_client(providers_key).post(API, NEW, format="json")
    assert response.status_code == 201
    listed = api_client(providers_key).get(API)
    assert PASTED not in listed.content.decode() and listed.json()["results"][0]["api_key_set"] is True


def test_a_provider_naming_database_url_is_refused_naming_the_field(api_client, providers_key):
    body = {"name": "x", "kind": "openai", "api_key_env": "DATABASE_URL", "base_url": "https://93.184.216.34/v1"}
    response = api_client(providers_key).post(API, body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "api_key_env"


def test_a_provider_at_the_metadata_address_is_refused_naming_base_url(api_client, providers_key):
    body = {**NEW, "base_url": "http://169.254.169.254/latest/meta-data/"}
    response = api_client(providers_key).post(API, body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "base_url"


def test_a_duplicate_name_names_the_field(api_client, providers_key):
    api_client(providers_key).post(API, NEW, format="json")
    response = api_client(providers_key).post(API, NEW, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "name"


def test_the_key_is_replaced_and_cleared_through_patch(api_client, providers_key):
    client = api_client(providers_key)
    client.post(API, {**NEW, "base_url": "http://127.0.0.1:11434/v1"}, format="json")
    replaced = client.patch(f"{API}/openai", {"api_key": "sk-proj-second-key-000000000001"}, format="json")
    assert replaced.status_code == 200 and replaced.json()["api_key_hint"] == "…0001"
    cleared = client.patch(f"{API}/openai", {"api_key_clear": True}, format="json")
    assert cleared.status_code == 200, cleared.json()
    assert (cleared.json()["api_key_set"], cleared.json()["api_key_hint"]) == (False, "")


def test_moving_a_provider_to_a_refused_address_is_refused(api_client, providers_key):
    client = api_client(providers_key)
    client.post(API, NEW, format="json")
    response = client.patch(f"{API}/openai", {"base_url": "http://10.0.0.8/v1"}, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "base_url"
    assert ProviderConfig.objects.get(name="openai").base_url == ""


def test_another_projects_provider_is_not_found(api_client, globex, demo_provider):
    key = api_key_create(project=globex, scopes="read,providers")[1]
    assert api_client(key).patch(f"{API}/demo", {"rpm_limit": 1}, format="json").status_code == 404


# --- structured output (issue 11) -----------------------------------------------------------------


def test_a_new_provider_asks_for_json_through_json_schema(api_client, providers_key):
    response = api_client(providers_key).post(API, NEW, format="json")
    assert response.json()["structured_output"] == "json_schema"


def test_the_structured_output_is_set_and_changed(api_client, providers_key):
    client = api_client(providers_key)
    added = client.post(API, {**NEW, "structured_output": "json_object"}, format="json")
    assert added.status_code == 201 and added.json()["structured_output"] == "json_object"
    changed = client.patch(f"{API}/openai", {"structured_output": "none"}, format="json")
    assert changed.status_code == 200 and changed.json()["structured_output"] == "none"
    assert ProviderConfig.objects.get(name="openai").structured_output == "none"


def test_an_unknown_structured_output_is_refused(api_client, providers_key):
    response = api_client(providers_key).post(API, {**NEW, "structured_output": "grammar"}, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "structured_output"
