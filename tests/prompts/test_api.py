import time

import pytest

from promptlib.prompts.content import VersionContent
from promptlib.prompts.models import LabelEvent, Version
from promptlib.prompts.services import label_move, template_create, version_create
from tests.ssti_payloads import DEEP_NESTING, IDNA_BOMB, PUNYCODE_BOMB

T = "/api/v1/templates/welcome-email"


@pytest.fixture
def catalogue(acme, welcome, welcome_v2):
    label_move(template=welcome, name="production", version=welcome.versions.get(number=1))
    template_create(project=acme, slug="faq-answer", title="FAQ answer", tags=["support"])
    return welcome


def test_the_list_shows_labels_and_latest_version(catalogue, acme_read_key, api_client):
    body = api_client(acme_read_key).get("/api/v1/templates").json()
    assert body["count"] == 2
    welcome = next(t for t in body["results"] if t["slug"] == "welcome-email")
    assert welcome["labels"] == {"production": 1}
    assert welcome["latest_version"] == 2
    assert welcome["tags"] == ["email"]


def test_the_list_filters_by_tag(catalogue, acme_read_key, api_client):
    body = api_client(acme_read_key).get("/api/v1/templates?tag=support").json()
    assert [t["slug"] for t in body["results"]] == ["faq-answer"]


def test_a_tag_filter_does_not_match_part_of_a_tag(catalogue, acme_read_key, api_client):
    assert api_client(acme_read_key).get("/api/v1/templates?tag=mail").json()["results"] == []


def test_the_list_filters_by_label(catalogue, acme_read_key, api_client):
    body = api_client(acme_read_key).get("/api/v1/templates?label=production").json()
    assert [t["slug"] for t in body["results"]] == ["welcome-email"]


def test_the_list_is_paginated(catalogue, acme_read_key, api_client):
    body = api_client(acme_read_key).get("/api/v1/templates?page_size=1").json()
    assert (body["count"], len(body["results"])) == (2, 1)
    assert "page=2" in body["next"]


def test_the_detail_has_labels_and_the_latest_version(catalogue, acme_read_key, api_client):
    body = api_client(acme_read_key).get(T).json()
    assert body["labels"] == {"production": 1}
    assert body["latest"]["number"] == 2
    assert body["latest"]["format"] == "At most 50 words."
    assert body["latest"]["model_settings"]["model"] == "gpt-4o-mini"


def test_versions_are_listed_newest_first(catalogue, acme_read_key, api_client):
    body = api_client(acme_read_key).get(f"{T}/versions").json()
    assert [v["number"] for v in body["results"]] == [2, 1]


def test_a_version_detail_has_its_content(catalogue, acme_read_key, api_client):
    body = api_client(acme_read_key).get(f"{T}/versions/1").json()
    assert body["task"] == "Write a welcome email to {{ name }}."
    assert [v["name"] for v in body["variables"]] == ["brand", "name", "max_words"]


def test_an_unknown_version_is_a_404(catalogue, acme_read_key, api_client):
    assert api_client(acme_read_key).get(f"{T}/versions/99").status_code == 404


def test_a_version_number_too_large_for_the_database_is_a_404(catalogue, acme_read_key, api_client):
    assert api_client(acme_read_key).get(f"{T}/versions/99999999999999999999").status_code == 404


def test_creating_a_version_returns_201(catalogue, acme_write_key, api_client):
    response = api_client(acme_write_key).post(
        f"{T}/versions",
        {"task": "Hello {{ who }}", "variables": [{"name": "who", "required": True}], "change_note": "api"},
        format="json",
    )
    assert response.status_code == 201
    assert (response.json()["number"], response.json()["created"]) == (3, True)
    assert response.json()["change_note"] == "api"


def test_identical_content_creates_nothing(catalogue, acme_write_key, api_client):
    client = api_client(acme_write_key)
    latest = client.get(f"{T}/versions/2").json()
    fields = ("role", "task", "context", "format", "constraints", "examples", "variables")
    body = {name: latest[name] for name in fields} | latest["model_settings"]
    response = client.post(f"{T}/versions", body, format="json")
    assert response.status_code == 200
    assert (response.json()["number"], response.json()["created"]) == (2, False)


def test_an_undeclared_variable_is_a_400_naming_the_section(catalogue, acme_write_key, api_client):
    response = api_client(acme_write_key).post(f"{T}/versions", {"task": "Hi {{ ghost }}"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "task"
    assert response.json()["errors"][0]["code"] == "undeclared_variable"


def test_a_syntax_error_is_a_400_naming_the_section(catalogue, acme_write_key, api_client):
    response = api_client(acme_write_key).post(f"{T}/versions", {"role": "{% if %}"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0] | {"message": ""} == {"field": "role", "code": "syntax_error", "message": ""}


def test_a_malformed_variable_declaration_is_a_400_naming_the_row(catalogue, acme_write_key, api_client):
    response = api_client(acme_write_key).post(
        f"{T}/versions", {"variables": [{"name": "x", "type": "date"}]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "variables[0].type"


def test_moving_a_label_through_the_api_is_recorded_with_via_api(catalogue, acme_write_key, api_client):
    response = api_client(acme_write_key).put(f"{T}/labels/production", {"version": 2, "note": "go"}, format="json")
    assert response.json() | {"updated_at": None} == {
        "name": "production",
        "version": 2,
        "updated_at": None,
        "updated_by": None,
    }
    event = LabelEvent.objects.filter(template=catalogue).first()
    assert (event.via, event.from_version.number, event.to_version.number, event.note) == ("api", 1, 2, "go")


def test_moving_a_label_to_a_missing_version_is_a_400_naming_the_version(catalogue, acme_write_key, api_client):
    response = api_client(acme_write_key).put(f"{T}/labels/production", {"version": 9}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "version"


def test_removing_a_label_is_recorded(catalogue, acme_write_key, api_client):
    assert api_client(acme_write_key).delete(f"{T}/labels/production").status_code == 204
    assert not catalogue.labels.exists()
    assert LabelEvent.objects.filter(template=catalogue, action="remove", via="api").exists()


def test_removing_a_missing_label_is_a_404(catalogue, acme_write_key, api_client):
    assert api_client(acme_write_key).delete(f"{T}/labels/staging").status_code == 404


def test_the_labels_endpoint_lists_labels(catalogue, acme_read_key, api_client):
    body = api_client(acme_read_key).get(f"{T}/labels").json()
    assert [(label["name"], label["version"]) for label in body] == [("production", 1)]


# --- issue 10: no single call runs long, no 500 on deep nesting ------------------------------------


@pytest.mark.parametrize("source", DEEP_NESTING.values(), ids=DEEP_NESTING.keys())
def test_deep_nesting_in_a_new_version_is_a_400_naming_the_section(catalogue, acme_write_key, api_client, source):
    response = api_client(acme_write_key).post(f"{T}/versions", {"context": source}, format="json")
    assert response.status_code == 400
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("context", "too_deep")]


def test_a_default_nested_too_deeply_is_a_400_naming_the_row(catalogue, acme_write_key, api_client):
    deep = "[" * 200 + "]" * 200
    body = f'{{"task": "{{{{ x }}}}", "variables": [{{"name": "x", "type": "list", "default": {deep}}}]}}'
    response = api_client(acme_write_key).post(f"{T}/versions", body, content_type="application/json")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["variables[0].default"]


def _published(template, task: str, *, checked: bool = True) -> Version:
    """Save task as a new version labelled production; unchecked: as if it predated the save-time checks."""
    content = VersionContent(task=task)
    if checked:
        version, _ = version_create(template=template, content=content)
    else:
        version = Version.objects.create(
            template=template,
            number=template.versions.count() + 1,
            content_hash=content.content_hash(),
            **content.to_dict(),
        )
    label_move(template=template, name="production", version=version)
    return version


@pytest.mark.parametrize("source", [PUNYCODE_BOMB, IDNA_BOMB], ids=["punycode", "idna"])
def test_the_punycode_bomb_is_a_quick_400_from_the_render_endpoint(catalogue, acme_read_key, api_client, source):
    _published(catalogue, source)
    client = api_client(acme_read_key)
    client.get(T)  # a running server is warm: the first request of a process loads the URLconf and more
    started = time.monotonic()
    response = client.post(f"{T}/render", {}, format="json")
    assert time.monotonic() - started < 1.1
    assert response.status_code == 400
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("task", "forbidden_codec")]


@pytest.mark.parametrize("source", DEEP_NESTING.values(), ids=DEEP_NESTING.keys())
def test_rendering_a_deeply_nested_version_is_a_400_naming_the_section(catalogue, acme_read_key, api_client, source):
    _published(catalogue, source, checked=False)
    response = api_client(acme_read_key).post(f"{T}/render", {}, format="json")
    assert response.status_code == 400
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("task", "too_deep")]


def test_printing_a_method_is_a_400_not_its_address(catalogue, acme_read_key, api_client):
    _published(catalogue, "{{ 'a'.upper }}")
    response = api_client(acme_read_key).post(f"{T}/render", {}, format="json")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["field"], error["code"]) == ("task", "not_printable")
    assert "<built-in" not in error["message"] and "0x" not in error["message"]
