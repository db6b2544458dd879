"""A request body nested thousands deep is a 400 naming the problem, never a RecursionError's 500."""

import pytest

pytestmark = pytest.mark.django_db

DEPTH = 5000


def _deep_list(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture
def published(welcome):
    from promptlib.prompts.services import label_move

    label_move(template=welcome, name="production", version=welcome.versions.get(number=1))
    return welcome


def test_a_5000_deep_variable_in_a_render_is_a_400(published, acme_read_key, api_client):
    body = '{"variables": {"name": ' + _deep_list(DEPTH) + "}}"
    response = api_client(acme_read_key).post(
        f"/api/v1/templates/{published.slug}/render", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["errors"]


def test_a_5000_deep_version_default_is_a_400(welcome, acme_write_key, api_client):
    body = (
        '{"role": "r", "task": "t", "variables": [{"name": "x", "type": "list", "default": ' + _deep_list(DEPTH) + "}]}"
    )
    response = api_client(acme_write_key).post(
        f"/api/v1/templates/{welcome.slug}/versions", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["errors"]
