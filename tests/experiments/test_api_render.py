import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.exceptions import ValidationError

from promptlib.core.apikeys import key_hash
from promptlib.core.caching import api_key_key, template_key
from promptlib.experiments.api.serializers import RenderRequestSerializer, render_request_clean
from promptlib.experiments.assignment import render_id_read, variant_pick
from promptlib.experiments.services import experiment_pause
from promptlib.prompts.models import Label
from promptlib.prompts.services import label_move

URL = "/api/v1/templates/welcome-email/render"


@pytest.fixture
def published(welcome):
    label_move(template=welcome, name="production", version=welcome.versions.get(number=1))
    return welcome


def test_it_renders_the_production_label_by_default(published, acme_read_key, api_client):
    response = api_client(acme_read_key).post(URL, {"variables": {"name": "Ann"}}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["template"], body["version"], body["label"]) == ("welcome-email", 1, "production")
    assert body["messages"][0] == {
        "role": "system",
        "content": "You are the voice of Acme.\n\n## Constraints\nNever promise discounts.\n\n"
        "## Output format\nPlain text, at most 120 words.",
    }
    assert body["messages"][-1] == {"role": "user", "content": "## Task\nWrite a welcome email to Ann."}
    assert "Write a welcome email to Ann." in body["text"]
    assert body["model"] == {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "temperature": 0.7,
        "max_tokens": 400,
        "output_schema": None,
    }
    assert body["experiment"] is None and body["render_id"] is None


def test_it_renders_a_named_version(published, welcome_v2, acme_read_key, api_client):
    response = api_client(acme_read_key).post(URL, {"version": 2, "variables": {"name": "Ann"}}, format="json")
    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert "At most 50 words." in response.json()["text"]


def test_it_renders_a_named_label(published, welcome_v2, acme_read_key, api_client):
    label_move(template=published, name="staging", version=welcome_v2)
    response = api_client(acme_read_key).post(URL, {"label": "staging", "variables": {"name": "Ann"}}, format="json")
    assert (response.json()["version"], response.json()["label"]) == (2, "staging")


def test_a_missing_label_is_a_400_naming_the_label(welcome, acme_read_key, api_client):
    response = api_client(acme_read_key).post(URL, {"variables": {"name": "Ann"}}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "label"
    assert "no label 'production'" in response.json()["errors"][0]["message"]


def test_a_missing_variable_is_a_400_naming_it(published, acme_read_key, api_client):
    response = api_client(acme_read_key).post(URL, {"variables": {}}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "variables.name", "code": "missing_variable", "message": "Variable 'name' is required."}
    ]


def test_a_wrongly_typed_variable_is_a_400_naming_it(published, acme_read_key, api_client):
    response = api_client(acme_read_key).post(URL, {"variables": {"name": "Ann", "max_words": "many"}}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "variables.max_words"


def test_an_unknown_version_is_a_400_naming_the_version(published, acme_read_key, api_client):
    response = api_client(acme_read_key).post(URL, {"version": 99, "variables": {"name": "A"}}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "version"


def test_an_unknown_template_is_a_404(acme, acme_read_key, api_client):
    response = api_client(acme_read_key).post("/api/v1/templates/nope/render", {}, format="json")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


# --- experiments -------------------------------------------------------------------------------


def test_a_running_experiment_renders_the_subjects_variant(published, welcome_experiment, acme_read_key, api_client):
    salt = welcome_experiment.salt
    for subject in ("u1", "u2", "u3", "u4", "u5", "u6"):
        body = (
            api_client(acme_read_key)
            .post(URL, {"variables": {"name": "Ann"}, "subject": subject}, format="json")
            .json()
        )
        key = variant_pick(salt=salt, subject=subject, weights=[("control", 1), ("short", 1)])
        assert body["experiment"] == {
            "id": welcome_experiment.pk,
            "name": "Shorter welcome",
            "variant": {"key": key, "version": 1 if key == "control" else 2},
        }
        assert body["version"] == (1 if key == "control" else 2)
        assert body["label"] is None


def test_the_experiment_overrides_a_named_label(published, welcome_experiment, acme_read_key, api_client):
    body = (
        api_client(acme_read_key)
        .post(URL, {"label": "production", "variables": {"name": "A"}, "subject": "u1"}, format="json")
        .json()
    )
    assert body["experiment"] is not None


def test_the_render_id_names_experiment_variant_and_subject(published, welcome_experiment, acme_read_key, api_client):
    body = (
        api_client(acme_read_key).post(URL, {"variables": {"name": "Ann"}, "subject": "user-9"}, format="json").json()
    )
    ref = render_id_read(token=body["render_id"])
    assert (ref.project_id, ref.experiment_id, ref.variant, ref.subject) == (
        welcome_experiment.project_id,
        welcome_experiment.pk,
        body["experiment"]["variant"]["key"],
        "user-9",
    )


def test_a_render_writes_nothing(published, welcome_experiment, acme_read_key, api_client):
    client = api_client(acme_read_key)
    client.post(URL, {"variables": {"name": "Ann"}, "subject": "warm"}, format="json")
    with CaptureQueriesContext(connection) as queries:
        client.post(URL, {"variables": {"name": "Ann"}, "subject": "user-1"}, format="json")
    assert not [q for q in queries.captured_queries if not q["sql"].lstrip().upper().startswith("SELECT")]


def test_without_a_subject_the_label_is_rendered(published, welcome_experiment, acme_read_key, api_client):
    body = api_client(acme_read_key).post(URL, {"variables": {"name": "A"}}, format="json").json()
    assert (body["version"], body["experiment"], body["render_id"]) == (1, None, None)


def test_an_explicit_version_bypasses_the_experiment(published, welcome_experiment, acme_read_key, api_client):
    body = (
        api_client(acme_read_key)
        .post(URL, {"version": 1, "variables": {"name": "A"}, "subject": "u1"}, format="json")
        .json()
    )
    assert (body["version"], body["experiment"]) == (1, None)


def test_label_and_version_together_are_refused(published, acme_read_key, api_client):
    response = api_client(acme_read_key).post(
        URL, {"version": 1, "label": "production", "variables": {"name": "A"}}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "version"


# --- speed and cache invalidation ----------------------------------------------------------------


def test_a_warm_render_makes_no_query(
    published, welcome_experiment, acme_read_key, api_client, django_assert_num_queries
):
    client = api_client(acme_read_key)
    client.post(URL, {"variables": {"name": "Ann"}, "subject": "u1"}, format="json")
    with django_assert_num_queries(0):
        response = client.post(URL, {"variables": {"name": "Bo"}, "subject": "u2"}, format="json")
    assert response.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_label_move_shows_in_the_next_render(published, welcome_v2, acme_read_key, api_client):
    client = api_client(acme_read_key)
    assert client.post(URL, {"variables": {"name": "A"}}, format="json").json()["version"] == 1
    label_move(template=published, name="production", version=welcome_v2)
    assert client.post(URL, {"variables": {"name": "A"}}, format="json").json()["version"] == 2


@pytest.mark.django_db(transaction=True)
def test_a_new_version_shows_in_the_next_render_of_latest(published, welcome_content, acme_write_key, api_client):
    client = api_client(acme_write_key)
    latest = {"label": "latest", "variables": {"name": "A"}}
    assert client.post(URL, latest, format="json").json()["version"] == 1
    created = client.post(
        "/api/v1/templates/welcome-email/versions",
        {**welcome_content.to_dict(), "task": "Greet {{ name }}."},
        format="json",
    )
    assert created.status_code == 201
    body = client.post(URL, latest, format="json").json()
    assert (body["version"], body["messages"][-1]["content"]) == (2, "## Task\nGreet A.")


@pytest.mark.django_db(transaction=True)
def test_pausing_the_experiment_shows_in_the_next_render(published, welcome_experiment, acme_read_key, api_client):
    client = api_client(acme_read_key)
    payload = {"variables": {"name": "A"}, "subject": "u1"}
    assert client.post(URL, payload, format="json").json()["experiment"] is not None
    experiment_pause(experiment=welcome_experiment)
    assert client.post(URL, payload, format="json").json()["experiment"] is None


@pytest.mark.django_db(transaction=True)
def test_a_label_move_through_the_api_shows_in_the_next_render(published, welcome_v2, acme_write_key, api_client):
    client = api_client(acme_write_key)
    client.post(URL, {"variables": {"name": "A"}}, format="json")
    moved = client.put("/api/v1/templates/welcome-email/labels/production", {"version": 2}, format="json")
    assert moved.status_code == 200
    assert client.post(URL, {"variables": {"name": "A"}}, format="json").json()["version"] == 2
    assert Label.objects.get(template=published, name="production").version == welcome_v2


# --- the request body's fast path gives what the serializer gives -----------------------------------

BODIES = [
    {},
    {"variables": {"name": "Ann"}},
    {"variables": {"name": "Ann"}, "label": "staging", "subject": "user-1", "other": 1},
    {"version": 2, "variables": {}},
    {"label": " production "},
    {"label": "no spaces inside"},
    {"label": "x" * 61},
    {"label": 5},
    {"version": "2"},
    {"version": True},
    {"version": 0},
    {"version": 2**31},
    {"version": 1, "label": "production"},
    {"variables": None},
    {"variables": ["name"]},
    {"subject": ""},
    {"subject": " padded "},
    {"subject": "tab\there"},
    {"subject": "nul\x00"},
    {"subject": "é" * 200},
    {"subject": "é" * 201},
    {"subject": 7},
    ["not", "an", "object"],
]


@pytest.mark.parametrize("body", BODIES, ids=[repr(b)[:40] for b in BODIES])
def test_the_fast_body_check_agrees_with_the_serializer(body):
    def outcome(check):
        try:
            return dict(check(body))
        except ValidationError as exc:
            return exc.detail

    assert outcome(render_request_clean) == outcome(RenderRequestSerializer().run_validation)


def test_a_warm_render_reads_the_key_and_the_snapshot_in_one_cache_call(
    published, acme_read_key, api_client, monkeypatch
):
    client = api_client(acme_read_key)
    client.post(URL, {"variables": {"name": "Ann"}}, format="json")  # the process learns the key
    backend, reads, depth = caches["default"], [], []

    def spy(name, real):
        def read(*args, **kwargs):
            if not depth:  # locmem's get_many calls get: count the outer call only
                keys = {"get": lambda: args[:1], "get_many": lambda: args[0], "trip": lambda: kwargs["get"]}[name]()
                reads.append(set(keys))
            depth.append(1)
            try:
                return real(*args, **kwargs)
            finally:
                depth.pop()

        return read

    for name in ("get", "get_many", "trip"):  # trip: one Redis pipeline (promptlib.core.cache_backend)
        if hasattr(backend, name):
            monkeypatch.setattr(backend, name, spy(name, getattr(backend, name)))
    assert client.post(URL, {"variables": {"name": "Bo"}}, format="json").status_code == 200
    key = api_key_key(key_hash=key_hash(acme_read_key))
    # ...and this address's count of failed keys, which a blocked address is refused on (issue 10).
    failures = {read for read in reads[0] if read.startswith("keyfail:127.0.0.1:")} if reads else set()
    assert len(failures) == 1
    assert reads == [{key, template_key(project_id=published.project_id, slug=published.slug), *failures}]
