from django.contrib.messages import get_messages
from django.urls import reverse

from promptlib.core.apikeys import KEY_PATTERN, api_key_authenticate, api_key_create
from promptlib.core.models import ApiKey

ADD = reverse("admin:promptlib_apikey_add")
CHANGELIST = reverse("admin:promptlib_apikey_changelist")


def test_a_publisher_creates_a_key_and_sees_it_once(acme, alice, client):
    client.force_login(alice)
    response = client.post(ADD, {"project": acme.pk, "name": "shop", "scopes": ["read", "write"]}, follow=True)
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    raw = next(word for m in shown for word in m.split() if KEY_PATTERN.fullmatch(word))
    assert api_key_authenticate(raw=raw).project_id == acme.pk
    assert ApiKey.objects.get().scopes == ["read", "write"]
    assert raw not in client.get(CHANGELIST).content.decode()


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
