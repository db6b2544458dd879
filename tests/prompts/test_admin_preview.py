"""The live preview panel's JSON endpoint: the API's render path, errors inline."""

import dataclasses
import time

import pytest

from promptlib.prompts.content import VersionContent
from tests.admin_support import admin_url, editor_post
from tests.ssti_payloads import DEEP_NESTING, IDNA_BOMB, PUNYCODE_BOMB


@pytest.fixture
def viewer_client(client, victor):
    client.force_login(victor)
    return client


def _preview(client, template, data):
    url = admin_url("template_preview", template.pk) if template else admin_url("template_preview_new")
    response = client.post(url, data)
    body = response.json()
    # A rendered preview is a 200; a refused section or value is a 400 naming it, as in the API.
    assert response.status_code == (200 if body["ok"] else 400)
    return body


def test_the_preview_renders_unsaved_edits_with_sample_values(client, bob, welcome, welcome_content):
    client.force_login(bob)
    data = editor_post(dataclasses.replace(welcome_content, task="Say hi to {{ name }}."))
    data["preview-name"] = "Bea"
    result = _preview(client, welcome, data)
    assert result["ok"]
    assert [m["role"] for m in result["messages"]] == ["system", "user", "assistant", "user"]
    assert result["messages"][-1]["content"] == "## Task\nSay hi to Bea."


def test_the_preview_uses_defaults_for_empty_inputs(client, bob, welcome, welcome_content):
    client.force_login(bob)
    data = editor_post(welcome_content, **{"preview-name": "Bea", "preview-brand": ""})
    result = _preview(client, welcome, data)
    assert result["messages"][0]["content"].startswith("You are the voice of Acme.")


def test_the_preview_parses_typed_values(client, bob, welcome, welcome_content):
    client.force_login(bob)
    data = editor_post(welcome_content, **{"preview-name": "Bea", "preview-max_words": "30"})
    result = _preview(client, welcome, data)
    assert "at most 30 words" in result["messages"][0]["content"]


def test_the_preview_reports_a_value_of_the_wrong_type(client, bob, welcome, welcome_content):
    client.force_login(bob)
    data = editor_post(welcome_content, **{"preview-name": "Bea", "preview-max_words": "lots"})
    result = _preview(client, welcome, data)
    assert not result["ok"]
    assert result["errors"] == [{"field": "variables.max_words", "message": "max_words: 'lots' is not a whole number."}]


def test_the_preview_reports_a_missing_required_value(client, bob, welcome, welcome_content):
    client.force_login(bob)
    result = _preview(client, welcome, editor_post(welcome_content))
    assert not result["ok"]
    assert result["errors"][0]["field"] == "variables.name" and "required" in result["errors"][0]["message"]


def test_the_preview_reports_a_syntax_error_with_its_section_and_line(client, bob, welcome, welcome_content):
    client.force_login(bob)
    data = editor_post(dataclasses.replace(welcome_content, role="Hi\n{% if %}"), **{"preview-name": "Bea"})
    result = _preview(client, welcome, data)
    assert not result["ok"]
    assert result["errors"][0]["field"] == "role" and "line 2" in result["errors"][0]["message"]


def test_the_preview_reports_a_render_error(client, bob, welcome, welcome_content):
    client.force_login(bob)
    content = dataclasses.replace(welcome_content, task="{{ name * 100000000 }}")
    result = _preview(client, welcome, editor_post(content, **{"preview-name": "Bea"}))
    assert not result["ok"] and result["errors"][0]["field"] == "task"


def test_a_viewer_previews_a_saved_version(viewer_client, welcome):
    result = _preview(viewer_client, welcome, {"version": "1", "preview-name": "Cy"})
    assert result["messages"][-1]["content"] == "## Task\nWrite a welcome email to Cy."


def test_the_add_page_previews_without_a_template(client, bob, welcome_content):
    client.force_login(bob)
    result = _preview(client, None, editor_post(welcome_content, **{"preview-name": "Di"}))
    assert result["ok"]


def test_the_preview_refuses_get(client, bob, welcome):
    client.force_login(bob)
    assert client.get(admin_url("template_preview", welcome.pk)).status_code == 405


def test_the_change_page_prefills_preview_inputs_with_defaults(client, bob, welcome):
    client.force_login(bob)
    response = client.get(admin_url("template_change", welcome.pk))
    values = {v["name"]: v["value"] for v in response.context["preview_variables"]}
    assert values == {"brand": "Acme", "name": "", "max_words": "120"}
    assert b'name="preview-brand" value="Acme"' in response.content


# --- issue 10: no single call runs long, no 500 on deep nesting ------------------------------------


@pytest.mark.parametrize("source", [PUNYCODE_BOMB, IDNA_BOMB], ids=["punycode", "idna"])
def test_a_viewer_previewing_the_punycode_bomb_gets_a_quick_error(viewer_client, source):
    _preview(viewer_client, None, editor_post(VersionContent(task="Hi")))  # a running server is warm
    started = time.monotonic()
    result = _preview(viewer_client, None, editor_post(VersionContent(task=source)))
    assert time.monotonic() - started < 1.1
    assert not result["ok"]
    assert result["errors"][0]["field"] == "task" and "'utf-8' or 'ascii'" in result["errors"][0]["message"]


@pytest.mark.parametrize("source", DEEP_NESTING.values(), ids=DEEP_NESTING.keys())
def test_deep_nesting_in_the_preview_is_an_error_naming_the_section(client, bob, welcome, source):
    client.force_login(bob)
    result = _preview(client, welcome, editor_post(VersionContent(constraints=source)))
    assert not result["ok"]
    assert [e["field"] for e in result["errors"]] == ["constraints"]
    assert "nest" in result["errors"][0]["message"]


def test_a_5000_deep_list_value_in_the_preview_is_an_error_naming_the_variable(client, bob, welcome):
    client.force_login(bob)
    content = VersionContent(task="{{ items|length }}", variables=[{"name": "items", "type": "list"}])
    data = editor_post(content, **{"preview-items": "[" * 5000 + "]" * 5000})
    result = _preview(client, welcome, data)
    assert not result["ok"]
    assert result["errors"][0]["field"] == "variables.items" and "nests too deeply" in result["errors"][0]["message"]


def test_a_list_value_is_typed_as_words_separated_by_semicolons_not_json(client, bob, welcome):
    client.force_login(bob)
    content = VersionContent(task="{{ items|join('+') }}", variables=[{"name": "items", "type": "list"}])
    result = _preview(client, welcome, editor_post(content, **{"preview-items": "charger; phone cable ;"}))
    assert result["ok"], result
    assert "charger+phone cable" in result["messages"][-1]["content"]


def test_a_5000_deep_default_in_the_editor_is_an_error_on_its_row(client, bob, welcome):
    client.force_login(bob)
    content = VersionContent(task="{{ items|length }}", variables=[{"name": "items", "type": "list"}])
    data = editor_post(content, **{"variables-0-default": "[" * 5000 + "]" * 5000})
    result = _preview(client, welcome, data)
    assert not result["ok"]
    assert "nests too deeply" in result["errors"][0]["message"]


def test_printing_a_class_in_the_preview_is_an_error_not_its_repr(client, bob, welcome):
    client.force_login(bob)
    result = _preview(client, welcome, editor_post(VersionContent(task="{{ namespace }}")))
    assert not result["ok"]
    assert result["errors"][0]["field"] == "task"
    assert "<class" not in result["errors"][0]["message"]


def test_the_page_previews_itself_on_load_only_when_no_required_value_is_empty(client, bob, welcome):
    from tests.admin_support import change_url

    client.force_login(bob)
    context = client.get(change_url(welcome)).context
    required_empty = [v for v in context["preview_variables"] if v.get("required") and not v["value"]]
    assert required_empty  # welcome asks for a name, which has no default
    assert context["preview_ready"] is False
    assert 'data-ready=""' in client.get(change_url(welcome)).content.decode()
