"""Test connection: a plain verdict, the server's models, and the structured-output mode it takes,
tried against the stand-in (which can refuse keys and response_format types as real servers do)."""

import socket

from django.test import override_settings
from django.urls import reverse

from promptlib.providers.models import ProviderConfig
from promptlib.providers.probe import provider_probe
from promptlib.providers.services import provider_config_create


def _config(standin, kind="openai", **fields):
    return standin.provider_config(kind, timeout_seconds=5, **fields)


def test_it_says_connected_and_lists_the_servers_models(standin):
    standin.serve_models("llama3.2", "qwen2.5", "phi4", "mistral")
    result = provider_probe(config=_config(standin, models=[]))
    assert (result.ok, result.verdict) == (True, "Connected: 4 models")
    assert result.models == ["llama3.2", "qwen2.5", "phi4", "mistral"]
    assert standin.stats()["paths"][0] == "/v1/chat/completions"  # then the structured-output probe, with llama3.2
    assert standin.stats()["bodies"][0]["model"] == "llama3.2"


def test_a_refused_key_is_said_with_its_status(standin):
    standin.require_key("sk-the-right-one")
    config = _config(standin)
    config.api_key_store("sk-a-wrong-key-123456")
    result = provider_probe(config=config)
    assert (result.ok, result.verdict) == (False, "The server refused the API key (401).")
    assert standin.stats()["requests"] == 0  # no completion tried after a refused key


def test_nothing_listening_is_said_plainly():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free once closed: nothing answers there
    config = ProviderConfig(name="gone", kind="openai", base_url=f"http://127.0.0.1:{port}/v1", timeout_seconds=5)
    result = provider_probe(config=config)
    assert not result.ok and result.verdict.startswith("Nothing answers at this address.")


def test_a_server_that_takes_json_schema_keeps_it(standin):
    result = provider_probe(config=_config(standin, structured_output="none"))
    assert result.structured_output == "json_schema"
    assert [f and f["type"] for f in standin.stats()["response_formats"]] == ["json_schema"]


def test_a_server_that_refuses_json_schema_is_set_to_json_object(standin):
    standin.take_response_formats("text", "json_object")  # llama-cpp-python's server
    result = provider_probe(config=_config(standin))
    assert result.ok and result.structured_output == "json_object"
    assert "refused json_schema" in result.structured_note
    assert [f and f["type"] for f in standin.stats()["response_formats"]] == ["json_schema", "json_object"]


def test_a_server_that_takes_neither_is_set_to_none(standin):
    standin.take_response_formats("text")
    result = provider_probe(config=_config(standin))
    assert result.structured_output == "none"
    assert [f and f["type"] for f in standin.stats()["response_formats"]] == ["json_schema", "json_object", None]


def test_an_unknown_model_is_reported_without_guessing_a_mode(standin):
    standin.fail_next(1, status=404, message="The model 'nope' does not exist")
    result = provider_probe(config=_config(standin, models=["nope"]))
    assert result.ok and result.structured_output == ""
    assert "not found" in result.structured_note and "nope" in result.structured_note


def test_anthropic_lists_its_models_and_needs_no_mode(standin):
    result = provider_probe(config=_config(standin, kind="anthropic"))
    assert (result.verdict, result.structured_output) == ("Connected: 2 models", "")
    assert standin.stats()["requests"] == 0


def test_the_offline_demo_connects_without_network():
    result = provider_probe(config=ProviderConfig(name="demo", kind="demo"))
    assert (result.ok, result.verdict, result.models) == (True, "Connected: 1 model", ["demo-small"])


@override_settings(PROMPTLIB_ALLOW_LOOPBACK=False)
def test_an_address_the_outbound_policy_refuses_is_not_called(standin):
    config = _config(standin)
    config.api_key_store("sk-some-key-123456789")
    result = provider_probe(config=config)
    assert not result.ok and "loopback" in result.verdict
    assert standin.stats()["requests"] == 0


# --- the admin's button --------------------------------------------------------------------------

TYPED = "sk-typed-not-saved-0123456789"


def _form(acme, standin, **overrides):
    data = {"project": acme.pk, "name": "local", "kind": "openai", "base_url": standin.openai_base_url,
            "models": "", "api_key": "", "api_key_env": "", "timeout_seconds": 5, "max_concurrency": 2,
            "rpm_limit": 0, "max_retries": 0, "structured_output": "json_schema",
            "prices-TOTAL_FORMS": 0, "prices-INITIAL_FORMS": 0}  # fmt: skip
    return {**data, **overrides}


def test_the_button_tests_the_unsaved_form_with_the_typed_key(client, alice, acme, standin):
    client.force_login(alice)
    standin.require_key(TYPED)
    standin.take_response_formats("text", "json_object")
    response = client.post(reverse("admin:promptlib_providerconfig_probe_new"), _form(acme, standin, api_key=TYPED))
    body = response.json()
    assert body["ok"] and body["verdict"] == "Connected: 2 models" and body["structured_output"] == "json_object"
    assert TYPED not in response.content.decode()
    assert not ProviderConfig.objects.exists()


def test_a_saved_provider_is_tested_with_its_stored_key(client, alice, acme, standin):
    config = provider_config_create(project=acme, name="local", kind="openai", base_url=standin.openai_base_url,
                                    api_key=TYPED)  # fmt: skip
    standin.require_key(TYPED)
    client.force_login(alice)
    url = reverse("admin:promptlib_providerconfig_probe", args=[config.pk])
    assert client.post(url, _form(acme, standin)).json()["verdict"] == "Connected: 2 models"
    wrong = client.post(url, _form(acme, standin, api_key="sk-another-one-12345678")).json()
    assert wrong["verdict"] == "The server refused the API key (401)."
    config.refresh_from_db()
    assert config.api_key_hint == "…6789"  # the test saved nothing


def test_a_bad_address_is_named_before_anything_is_called(client, alice, acme, standin):
    client.force_login(alice)
    response = client.post(reverse("admin:promptlib_providerconfig_probe_new"),
                           _form(acme, standin, base_url="http://169.254.169.254/v1"))  # fmt: skip
    assert response.status_code == 400 and "link-local" in response.json()["verdict"]


def test_an_editor_cannot_test_a_connection(client, bob, acme, standin):
    client.force_login(bob)
    response = client.post(reverse("admin:promptlib_providerconfig_probe_new"), _form(acme, standin))
    assert response.status_code == 403
    assert standin.stats()["requests"] == 0
