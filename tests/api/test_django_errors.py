"""Under /api/, Django's own answers (500, 400, 413) in the JSON error shape; elsewhere its pages."""

import pytest
from rest_framework.test import APIClient

from promptlib.api import ping
from promptlib.api.parsers import RequestTooLarge, SafeJSONParser

pytestmark = pytest.mark.django_db
PING = "/api/v1/ping"


def _only_error(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    errors = response.json()["errors"]
    assert errors and all(set(e) >= {"field", "code", "message"} for e in errors)
    return errors[0]


@pytest.fixture
def production_client(acme_read_key):
    """A client that gets the response Django sends for an unhandled error (DEBUG is off in tests)."""
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {acme_read_key}")
    return client


def test_an_unexpected_error_is_a_json_500_without_detail(production_client, monkeypatch):
    def broken(self, request):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(ping.PingView, "get", broken)
    error = _only_error(production_client.get(PING), 500)
    assert error["code"] == "server_error" and "secret" not in error["message"]


def test_outside_the_api_an_unexpected_error_keeps_djangos_page(client, monkeypatch):
    from django.contrib.auth import views

    def broken(self, request, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.LoginView, "get", broken)
    client.raise_request_exception = False
    response = client.get("/admin/login/")
    assert response.status_code == 500 and not response["Content-Type"].startswith("application/json")


def test_a_body_over_the_upload_limit_is_a_json_413(production_client, settings):
    body = b'{"x": "' + b"a" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + b'"}'
    for content_type in ("application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        error = _only_error(production_client.post(PING, body, content_type=content_type), 413)
        assert error["code"] == "too_large"


def test_a_chunked_body_over_the_limit_is_refused_by_the_parser_with_413(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    from io import BytesIO

    with pytest.raises(RequestTooLarge) as exc:
        SafeJSONParser().parse(BytesIO(b'{"x": "0123456789"}'))
    assert exc.value.status_code == 413


def test_a_nul_byte_in_the_path_is_a_json_400(production_client):
    assert _only_error(production_client.get("/api/v1/datasets/a%00b"), 400)["field"] == "path"
    assert _only_error(production_client.get("/api/v1/templates/x%00"), 400)["field"] == "path"


def test_a_nul_byte_in_the_query_is_a_json_400_naming_the_parameter(production_client):
    assert _only_error(production_client.get(f"{PING}?project=a%00"), 400)["field"] == "project"


def test_a_suspicious_request_is_a_json_400(production_client, settings):
    # A Host header not allowed: Django raises DisallowedHost (a SuspiciousOperation); handler400 answers.
    settings.ALLOWED_HOSTS = ["testserver"]
    assert _only_error(production_client.get(PING, HTTP_HOST="evil.example"), 400)["code"] == "bad_request"
