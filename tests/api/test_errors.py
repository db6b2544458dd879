"""One error shape everywhere, and never a 500 whatever the input."""

import pytest

from promptlib.prompts.models import Label, LabelEvent
from promptlib.prompts.services import label_move
from tests.concurrency_support import at_once

T = "/api/v1/templates/welcome-email"


@pytest.fixture
def published(welcome):
    label_move(template=welcome, name="production", version=welcome.versions.get(number=1))
    return welcome


def _only_error(response, status):
    assert response.status_code == status, response.content
    errors = response.json()["errors"]
    assert errors and all(set(e) >= {"field", "code", "message"} for e in errors)
    return errors[0]


def test_an_unknown_url_is_a_json_404(acme_read_key, api_client):
    assert _only_error(api_client(acme_read_key).get("/api/v1/nothing/here"), 404)["code"] == "not_found"


def test_a_wrong_method_is_a_json_405(published, acme_read_key, api_client):
    assert _only_error(api_client(acme_read_key).delete(T), 405)["code"] == "method_not_allowed"


def test_a_body_that_is_not_json_is_a_415(published, acme_read_key, api_client):
    response = api_client(acme_read_key).post(
        f"{T}/render", "name=Ann", content_type="application/x-www-form-urlencoded"
    )
    assert _only_error(response, 415)["code"] == "unsupported_media_type"


def test_broken_json_is_a_400(published, acme_read_key, api_client):
    response = api_client(acme_read_key).post(f"{T}/render", "{not json", content_type="application/json")
    assert _only_error(response, 400)["code"] == "parse_error"


def test_json_nested_past_the_recursion_limit_is_a_400(published, acme_read_key, api_client):
    response = api_client(acme_read_key).post(f"{T}/render", "[" * 100_000, content_type="application/json")
    assert _only_error(response, 400)["code"] == "parse_error"


def test_a_json_array_body_is_a_400(published, acme_read_key, api_client):
    response = api_client(acme_read_key).post(f"{T}/render", [1, 2], format="json")
    _only_error(response, 400)


def test_an_unacceptable_accept_header_is_a_406(published, acme_read_key, api_client):
    response = api_client(acme_read_key).get(T, HTTP_ACCEPT="application/xml")
    assert response.status_code == 406


def test_a_nul_character_in_content_is_a_400(published, acme_write_key, api_client):
    response = api_client(acme_write_key).post(f"{T}/versions", {"task": "a\x00b"}, format="json")
    assert _only_error(response, 400)["field"] == "task"


def test_a_nul_character_inside_a_json_default_is_a_400(published, acme_write_key, api_client):
    body = {"variables": [{"name": "x", "type": "object", "default": {"k\x00": 1}}]}
    response = api_client(acme_write_key).post(f"{T}/versions", body, format="json")
    assert _only_error(response, 400)["field"] == "variables[0].default"


def test_an_infinite_temperature_is_a_400(published, acme_write_key, api_client):
    response = api_client(acme_write_key).post(
        f"{T}/versions", '{"temperature": 1e400}', content_type="application/json"
    )
    assert _only_error(response, 400)["field"] == "temperature"


def test_an_overlong_label_name_is_a_400(published, acme_write_key, api_client):
    response = api_client(acme_write_key).put(f"{T}/labels/{'x' * 61}", {"version": 1}, format="json")
    assert _only_error(response, 400)["field"] == "name"


def test_over_the_rate_it_answers_429_with_retry_after(published, acme_read_key, api_client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api": "3/min"}}
    client = api_client(acme_read_key)
    assert [client.get(T).status_code for _ in range(3)] == [200, 200, 200]
    response = client.get(T)
    assert _only_error(response, 429)["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 61


def test_the_rate_is_counted_per_key(published, acme_read_key, acme_write_key, api_client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api": "1/min"}}
    assert api_client(acme_read_key).get(T).status_code == 200
    assert api_client(acme_read_key).get(T).status_code == 429
    assert api_client(acme_write_key).get(T).status_code == 200


def test_the_schema_and_its_viewers_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    for url in ("/api/docs/", "/api/redoc/"):
        response = client.get(url)
        assert response.status_code == 200
        assert b"cdn." not in response.content  # served offline by the sidecar


def test_a_post_to_an_unknown_url_is_a_json_404_not_a_csrf_403(acme_read_key, api_client):
    client = api_client(acme_read_key)
    client.handler.enforce_csrf_checks = True
    response = client.post("/api/v1/templates/%C2%A6/render", {}, format="json")
    assert _only_error(response, 404)["code"] == "not_found"


def test_a_url_with_a_newline_is_a_json_404(acme_read_key, api_client):
    response = api_client(acme_read_key).get("/api/v1/templates/a%0Ab")
    assert _only_error(response, 404)["code"] == "not_found"


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_of_one_new_label_answer_200_or_409_never_500(welcome, acme_write_key, api_client):
    # On PostgreSQL every request finds no label, and all but one insert break the unique constraint.
    def put() -> int:
        return api_client(acme_write_key).put(f"{T}/labels/canary", {"version": 1}, format="json").status_code

    statuses = at_once(20, put)
    assert set(statuses) <= {200, 409} and 200 in statuses, statuses
    assert Label.objects.filter(template=welcome, name="canary").count() == 1
    assert LabelEvent.objects.filter(template=welcome, label="canary").count() == 1
