"""Who may call what: every endpoint against every kind of credential."""

import secrets
import string
from types import SimpleNamespace

import pytest

from promptlib.api import throttling
from promptlib.core.apikeys import api_key_revoke
from promptlib.core.models import ApiKey
from promptlib.experiments.assignment import variant_pick
from promptlib.prompts.services import label_move

T = "/api/v1/templates/welcome-email"
NEW_VERSION = {"task": "Say hi to {{ name }}.", "variables": [{"name": "name", "required": True}]}
NEW_EXPERIMENT = {
    "template": "welcome-email",
    "name": "Another test",
    "variants": [{"key": "control", "version": 1, "is_control": True}, {"key": "b", "version": 2}],
}
# (method, url, body, needs write). {exp} is replaced by the experiment id.
ENDPOINTS = [
    ("get", "/api/v1/templates", None, False),
    ("get", T, None, False),
    ("post", f"{T}/render", {"variables": {"name": "Ann"}}, False),
    ("get", f"{T}/versions", None, False),
    ("post", f"{T}/versions", NEW_VERSION, True),
    ("get", f"{T}/versions/1", None, False),
    ("get", f"{T}/labels", None, False),
    ("put", f"{T}/labels/production", {"version": 1}, True),
    ("delete", f"{T}/labels/production", None, True),
    (
        "post",
        "/api/v1/outcomes",
        {"experiment": "{exp}", "variant": "control", "subject": "s", "metric": "m", "value": True, "event_id": "e1"},
        False,
    ),
    ("get", "/api/v1/experiments", None, False),
    ("get", "/api/v1/experiments/{exp}", None, False),
    ("post", "/api/v1/experiments", NEW_EXPERIMENT, True),
    ("patch", "/api/v1/experiments/{exp}", {"status": "paused"}, True),
]
OBJECT_ENDPOINTS = [
    e for e in ENDPOINTS if e[1] not in ("/api/v1/templates", "/api/v1/experiments", "/api/v1/outcomes")
]
WRITE_ENDPOINTS = [e for e in ENDPOINTS if e[3]]
IDS = [f"{m.upper()} {u}" for m, u, _, _ in ENDPOINTS]


@pytest.fixture
def world(welcome, welcome_experiment):
    label_move(template=welcome, name="production", version=welcome.versions.get(number=1))
    return welcome_experiment


def _call(client, endpoint, experiment, query=""):
    method, url, body, _ = endpoint
    url = url.replace("{exp}", str(experiment.pk)) + query
    if isinstance(body, dict) and body.get("experiment") == "{exp}":
        weights = [(v.key, v.weight) for v in experiment.variants.all()]
        variant = variant_pick(salt=experiment.salt, subject=body["subject"], weights=weights)
        body = {**body, "experiment": experiment.pk, "variant": variant}
    return getattr(client, method)(url, body, format="json") if body is not None else getattr(client, method)(url)


def _assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert response.json()["errors"][0]["code"] == code


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_a_write_key_of_the_project_may_call_it(endpoint, world, acme_write_key, api_client):
    assert _call(api_client(acme_write_key), endpoint, world).status_code in (200, 201, 204)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_without_a_key_it_answers_401(endpoint, world, api_client):
    response = _call(api_client(), endpoint, world)
    _assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_a_malformed_key_answers_401(endpoint, world, api_client):
    _assert_error(_call(api_client("pl_short_x"), endpoint, world), 401, "authentication_failed")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_a_revoked_key_answers_401(endpoint, world, acme_write_key, api_client):
    api_key_revoke(api_key=ApiKey.objects.get(prefix=acme_write_key.split("_")[1]))
    _assert_error(_call(api_client(acme_write_key), endpoint, world), 401, "authentication_failed")


@pytest.mark.django_db(transaction=True)
def test_a_key_revoked_after_use_answers_401_at_once(world, acme_read_key, api_client):
    client = api_client(acme_read_key)
    # Two calls: the second takes the warm path (key, counter and view's data in one cache round trip).
    calls = [client.post(f"{T}/render", {"variables": {"name": "A"}}, format="json") for _ in range(2)]
    assert [response.status_code for response in calls] == [200, 200]
    api_key_revoke(api_key=ApiKey.objects.get(prefix=acme_read_key.split("_")[1]))
    _assert_error(client.post(f"{T}/render", {"variables": {"name": "A"}}, format="json"), 401, "authentication_failed")


@pytest.mark.parametrize("endpoint", WRITE_ENDPOINTS, ids=[f"{m.upper()} {u}" for m, u, _, _ in WRITE_ENDPOINTS])
def test_a_read_key_on_a_write_endpoint_answers_403(endpoint, world, acme_read_key, api_client):
    response = _call(api_client(acme_read_key), endpoint, world)
    _assert_error(response, 403, "permission_denied")
    assert "write scope" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("endpoint", OBJECT_ENDPOINTS, ids=[f"{m.upper()} {u}" for m, u, _, _ in OBJECT_ENDPOINTS])
def test_another_projects_key_gets_404_like_a_missing_object(endpoint, world, globex_key, api_client):
    _assert_error(_call(api_client(globex_key), endpoint, world), 404, "not_found")


def test_another_projects_key_sees_none_of_its_templates(world, globex_key, api_client):
    assert api_client(globex_key).get("/api/v1/templates").json()["results"] == []


def test_another_projects_key_sees_none_of_its_experiments(world, globex_key, api_client):
    assert api_client(globex_key).get("/api/v1/experiments").json()["results"] == []


def test_another_projects_key_cannot_report_on_its_experiment(world, globex_key, acme_write_key, api_client):
    weights = [(v.key, v.weight) for v in world.variants.all()]
    event = {"variant": variant_pick(salt=world.salt, subject="s", weights=weights), "subject": "s"}
    event |= {"metric": "m", "value": 1, "event_id": "e1", "experiment": world.pk}
    foreign = api_client(globex_key).post("/api/v1/outcomes", event, format="json")
    # The same request about an experiment that does not exist at all answers the same.
    missing = api_client(acme_write_key).post(
        "/api/v1/outcomes", {**event, "experiment": world.pk + 10_000}, format="json"
    )
    assert foreign.status_code == missing.status_code == 400
    assert foreign.json()["errors"][0]["code"] == missing.json()["errors"][0]["code"] == "not_found"


# --- the browsable API: admin users, within their projects and roles -----------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_an_admin_user_outside_the_project_gets_404(endpoint, world, gina, client):
    client.force_login(gina)
    response = _call(_session(client), endpoint, world, "?project=acme")
    _assert_error(response, 404, "not_found")


@pytest.mark.parametrize("endpoint", OBJECT_ENDPOINTS, ids=[f"{m.upper()} {u}" for m, u, _, _ in OBJECT_ENDPOINTS])
def test_an_admin_user_in_their_own_project_cannot_reach_another(endpoint, world, gina, client):
    client.force_login(gina)
    _assert_error(_call(_session(client), endpoint, world), 404, "not_found")


def test_a_publisher_may_move_labels_in_the_browsable_api(world, alice, client):
    client.force_login(alice)
    response = _session(client).put(f"{T}/labels/production", {"version": 1}, format="json")
    assert response.status_code == 200


def test_an_editor_may_create_versions_but_not_move_labels(world, bob, client):
    client.force_login(bob)
    session = _session(client)
    assert session.post(f"{T}/versions", NEW_VERSION, format="json").status_code == 201
    response = session.put(f"{T}/labels/production", {"version": 1}, format="json")
    _assert_error(response, 403, "permission_denied")
    assert "publisher" in response.json()["errors"][0]["message"]


def test_a_viewer_may_read_but_not_create_versions(world, victor, client):
    client.force_login(victor)
    session = _session(client)
    assert session.get(T).status_code == 200
    _assert_error(session.post(f"{T}/versions", NEW_VERSION, format="json"), 403, "permission_denied")


def test_a_user_of_several_projects_must_choose_one(world, alice, globex, client):
    from promptlib.core.models import Membership

    Membership.objects.create(user=alice, project=globex, role="viewer")
    client.force_login(alice)
    session = _session(client)
    _assert_error(session.get(T), 400, "invalid")
    assert session.get(T + "?project=acme").status_code == 200


def _session(client):
    """A DRF client sharing the logged-in Django client's session cookie."""
    from rest_framework.test import APIClient

    api = APIClient()
    api.cookies = client.cookies
    return api


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_the_browsable_api_renders_every_endpoint_for_a_member(endpoint, world, alice, client):
    client.force_login(alice)
    response = client.get(endpoint[1].replace("{exp}", str(world.pk)) + "?project=acme", HTTP_ACCEPT="text/html")
    has_get = any(m == "get" and u == endpoint[1] for m, u, _, _ in ENDPOINTS)
    assert response.status_code == (200 if has_get else 405)
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_options_never_fails(endpoint, world, acme_write_key, api_client):
    response = api_client(acme_write_key).options(endpoint[1].replace("{exp}", str(world.pk)))
    assert response.status_code == 200


# --- guessing keys: 20 failed keys from one address in a minute, then 429 until the minute ends ------------

WINDOW_START = 60 * 30_000_000  # a minute boundary: the fake clock below starts one second after it


@pytest.fixture
def clock(monkeypatch):
    """The throttles' clock, frozen one second into a window; `clock.now` moves it."""
    clock = SimpleNamespace(now=WINDOW_START + 1)
    monkeypatch.setattr(throttling, "time", SimpleNamespace(time=lambda: clock.now))
    return clock


def _guess():
    alphabet = string.ascii_letters + string.digits
    return f"pl_{secrets.token_hex(4)}_{''.join(secrets.choice(alphabet) for _ in range(32))}"


def _get(api_client, key, address="10.0.0.1", **headers):
    return api_client(key).get("/api/v1/templates", REMOTE_ADDR=address, **headers)


def _block(api_client, address="10.0.0.1", **headers):
    statuses = [_get(api_client, _guess(), address, **headers).status_code for _ in range(20)]
    assert statuses == [401] * 20


def test_twenty_wrong_keys_then_the_next_answers_429_with_retry_after(world, api_client, clock):
    _block(api_client)
    response = _get(api_client, _guess())
    _assert_error(response, 429, "throttled")
    assert response["Retry-After"] == "60"


def test_a_blocked_address_is_refused_even_with_a_good_key(world, acme_read_key, api_client, clock):
    _block(api_client)
    _assert_error(_get(api_client, acme_read_key), 429, "throttled")  # a hit would otherwise stand out


def test_a_blocked_address_is_refused_with_a_key_already_in_use(world, acme_read_key, api_client, clock):
    assert [_get(api_client, acme_read_key).status_code for _ in range(2)] == [200, 200]  # the warm path
    _block(api_client)
    _assert_error(_get(api_client, acme_read_key), 429, "throttled")


def test_a_blocked_address_is_refused_before_the_key_lookup(world, api_client, clock, django_assert_num_queries):
    _block(api_client)
    with django_assert_num_queries(0):
        assert _get(api_client, _guess()).status_code == 429


def test_a_good_key_from_another_address_still_works(world, acme_read_key, api_client, clock):
    _block(api_client, address="10.0.0.1")
    assert _get(api_client, acme_read_key, address="10.0.0.2").status_code == 200


def test_the_block_ends_with_the_window(world, acme_read_key, api_client, clock):
    _block(api_client)
    clock.now = WINDOW_START + 60
    assert _get(api_client, acme_read_key).status_code == 200
    assert _get(api_client, _guess()).status_code == 401


def test_a_forged_forwarded_for_header_does_not_dodge_the_block(world, api_client, clock):
    for n in range(20):
        _get(api_client, _guess(), HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    assert _get(api_client, _guess(), HTTP_X_FORWARDED_FOR="203.0.113.99").status_code == 429


def test_malformed_keys_are_refused_without_counting(world, acme_read_key, api_client, clock):
    # They cannot be guesses (a client with a typo, a probe): no cache work, and no block.
    assert {_get(api_client, "pl_short_x").status_code for _ in range(30)} == {401}
    assert _get(api_client, acme_read_key).status_code == 200
