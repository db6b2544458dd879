import html
import re

from django.conf import settings
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from promptlib.core.apikeys import KEY_PATTERN, api_key_authenticate, api_key_create
from promptlib.core.models import ApiKey

ADD = reverse("admin:promptlib_apikey_add")
CHANGELIST = reverse("admin:promptlib_apikey_changelist")


def _shown_key(page: str) -> str | None:
    found = re.search(r'<code id="new-api-key">(pl_[^<]+)</code>', page)
    return found.group(1) if found else None


def test_a_publisher_creates_a_key_and_sees_it_once(acme, alice, client):
    client.force_login(alice)
    response = client.post(ADD, {"project": acme.pk, "name": "shop", "scopes": ["read", "write"]})
    created = ApiKey.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:promptlib_apikey_created", args=[created.pk])
    raw = _shown_key(client.get(response["Location"]).content.decode())
    assert KEY_PATTERN.fullmatch(raw) and api_key_authenticate(raw=raw).project_id == acme.pk
    assert created.scopes == ["read", "write"]
    assert raw not in client.get(CHANGELIST).content.decode()


def test_the_key_page_shows_it_only_on_the_first_visit(acme, alice, client):
    client.force_login(alice)
    url = client.post(ADD, {"project": acme.pk, "name": "shop", "scopes": ["read"]})["Location"]
    assert _shown_key(client.get(url).content.decode())
    again = client.get(url).content.decode()
    assert _shown_key(again) is None and "pl_" + ApiKey.objects.get().prefix + "_" not in again
    assert "cannot be shown again" in again


def test_the_new_key_never_travels_in_a_cookie(acme, alice, client):
    client.force_login(alice)
    created = client.post(ADD, {"project": acme.pk, "name": "shop", "scopes": ["read"]})
    shown = client.get(created["Location"])
    raw = _shown_key(shown.content.decode())
    secret = raw.split("_")[2]
    for response in (created, shown):
        assert all(secret not in morsel.OutputString() for morsel in response.cookies.values())
        assert not any(secret in str(m) for m in get_messages(response.wsgi_request))
    assert all(secret not in morsel.value for morsel in client.cookies.values())  # the messages cookie included
    assert "signed_cookies" not in settings.SESSION_ENGINE and "cookie" not in settings.SESSION_ENGINE


def test_two_keys_created_in_a_row_are_each_shown_once(acme, alice, client):
    client.force_login(alice)
    urls = [client.post(ADD, {"project": acme.pk, "name": n, "scopes": ["read"]})["Location"] for n in "ab"]
    assert all(_shown_key(client.get(url).content.decode()) for url in reversed(urls))
    assert not any(_shown_key(client.get(url).content.decode()) for url in urls)


def test_the_key_page_of_another_session_shows_nothing(acme, alice, client):
    client.force_login(alice)
    url = client.post(ADD, {"project": acme.pk, "name": "shop", "scopes": ["read"]})["Location"]
    other = Client()
    other.force_login(alice)  # the same person in another browser
    assert _shown_key(other.get(url).content.decode()) is None
    assert _shown_key(client.get(url).content.decode())


def test_the_key_page_is_never_cached_and_shows_a_ready_curl(acme, alice, client):
    client.force_login(alice)
    response = client.get(client.post(ADD, {"project": acme.pk, "name": "shop", "scopes": ["read"]})["Location"])
    page = html.unescape(response.content.decode())
    raw = _shown_key(page)
    assert "no-store" in response["Cache-Control"]
    assert f'curl -H "Authorization: Bearer {raw}" http://testserver/api/v1/templates' in page
    assert 'id="copy-api-key"' in page


def test_the_key_page_has_ready_curl_and_python_for_one_of_the_projects_prompts(acme, alice, client, welcome):
    client.force_login(alice)
    response = client.get(client.post(ADD, {"project": acme.pk, "name": "shop", "scopes": ["read"]})["Location"])
    page = html.unescape(response.content.decode())
    raw = _shown_key(page)
    assert "curl -X POST http://testserver/api/v1/templates/welcome-email/render" in page
    assert f'-H "Authorization: Bearer {raw}"' in page
    assert """-d '{"label": "latest", "variables": {"brand": "Acme", "name": "text", "max_words": 120}}'""" in page
    assert f'client = PromptClient("http://testserver", api_key="{raw}")' in page
    variables = "{'brand': 'Acme', 'name': 'text', 'max_words': 120}"
    assert f'client.get_prompt("welcome-email", label="latest", variables={variables})' in page
    assert all(f'data-copy="{target}"' in page for target in ("new-api-key", "curl-example", "python-example"))


def test_the_snippets_fetch_the_prompt_as_shown(acme, alice, client, welcome):
    """The curl body, sent as the page writes it with the new key, renders the prompt."""
    client.force_login(alice)
    response = client.get(client.post(ADD, {"project": acme.pk, "name": "shop", "scopes": ["read"]})["Location"])
    page = html.unescape(response.content.decode())
    raw = _shown_key(page)
    body = re.search(r"-d '([^']+)'", page).group(1)
    answer = Client().post(
        "/api/v1/templates/welcome-email/render", body, content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )  # fmt: skip
    assert answer.status_code == 200, answer.content
    assert "Write a welcome email to text." in answer.json()["text"]


def test_the_key_page_links_to_the_api_docs(acme, alice, client):
    client.force_login(alice)
    page = client.get(client.post(ADD, {"project": acme.pk, "name": "shop", "scopes": ["read"]})["Location"])
    assert 'id="api-docs-link" href="/api/docs/"' in page.content.decode()


def test_every_admin_page_links_to_the_api_docs(alice, client):
    client.force_login(alice)
    for url in (reverse("admin:index"), CHANGELIST, ADD):
        assert 'id="api-docs-header-link"' in client.get(url).content.decode(), url


def test_an_editor_cannot_create_keys(acme, bob, client):
    client.force_login(bob)
    client.post(ADD, {"project": acme.pk, "name": "x", "scopes": ["read"]})
    assert not ApiKey.objects.exists()


def test_the_list_shows_prefix_and_scopes(acme, alice, client):
    api_key, _ = api_key_create(project=acme, scopes="read")
    client.force_login(alice)
    page = client.get(CHANGELIST).content.decode()
    assert f"pl_{api_key.prefix}_…" in page


def test_revoking_stops_the_key(acme, alice, client):
    api_key, raw = api_key_create(project=acme, scopes="read")
    client.force_login(alice)
    client.post(CHANGELIST, {"action": "revoke_keys", "_selected_action": [api_key.pk]})
    assert ApiKey.objects.get().revoked_at is not None
    assert api_key_authenticate(raw=raw) is None


def test_another_projects_publisher_cannot_revoke(acme, gina, client):
    api_key, _ = api_key_create(project=acme, scopes="read")
    client.force_login(gina)
    client.post(CHANGELIST, {"action": "revoke_keys", "_selected_action": [api_key.pk]})
    assert ApiKey.objects.get().revoked_at is None


def test_the_add_page_offers_the_scopes(acme, alice, client):
    client.force_login(alice)
    page = client.get(ADD).content.decode()
    assert 'value="read"' in page and 'value="write"' in page
