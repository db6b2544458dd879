"""GET/POST /api/v1/ping: a bare authenticated endpoint (the floor the API benchmark compares render with)."""

import pytest

URL = "/api/v1/ping"

pytestmark = pytest.mark.django_db


def test_it_answers_ok_to_a_valid_key(acme_read_key, api_client):
    response = api_client(acme_read_key).get(URL)
    assert (response.status_code, response.json()) == (200, {"ok": True})


def test_it_answers_ok_to_a_post_with_a_json_body(acme_read_key, api_client):
    response = api_client(acme_read_key).post(URL, {"variables": {"name": "Ann"}}, format="json")
    assert (response.status_code, response.json()) == (200, {"ok": True})


def test_it_refuses_a_request_without_a_key(api_client):
    response = api_client().get(URL)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "not_authenticated"


def test_it_refuses_a_malformed_body(acme_read_key, api_client):
    response = api_client(acme_read_key).generic("POST", URL, "{", content_type="application/json")
    assert response.status_code == 400
