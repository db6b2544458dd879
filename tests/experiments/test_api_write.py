"""Creating experiments and moving them through draft → running ⇄ paused → finished over the API."""

import pytest
from rest_framework.test import APIClient

from promptlib.experiments.models import Experiment
from promptlib.experiments.services import VariantSpec, experiment_create
from promptlib.prompts.services import label_move

LIST = "/api/v1/experiments"
RENDER = "/api/v1/templates/welcome-email/render"
VARIANTS = [{"key": "control", "version": 1, "is_control": True}, {"key": "short", "version": 2, "weight": 3}]
NEW = {
    "template": "welcome-email",
    "name": "Shorter welcome",
    "variants": VARIANTS,
    "primary_metric": "converted",
    "guardrail_metrics": ["cost_usd"],
    "minimum_effect": 0.02,
}


@pytest.fixture
def draft(welcome, welcome_v2):
    return experiment_create(
        template=welcome,
        name="Draft",
        variants=[
            VariantSpec(key="control", version=welcome.versions.get(number=1), is_control=True),
            VariantSpec(key="short", version=welcome_v2),
        ],
    )


@pytest.fixture
def writer(acme_write_key, api_client):
    return api_client(acme_write_key)


def _url(experiment) -> str:
    return f"{LIST}/{experiment.pk}"


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    return response.json()["errors"][0]


def _session(client, user) -> APIClient:
    client.force_login(user)
    api = APIClient()
    api.cookies = client.cookies
    return api


# --- create ------------------------------------------------------------------------------------


def test_a_write_key_creates_a_draft_with_its_variants(welcome, welcome_v2, writer):
    response = writer.post(LIST, NEW, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["template"], body["primary_metric"], body["guardrail_metrics"]) == (
        "draft",
        "welcome-email",
        "converted",
        ["cost_usd"],
    )
    assert [(v["key"], v["version"], v["weight"], v["is_control"]) for v in body["variants"]] == [
        ("control", 1, 1, True),
        ("short", 2, 3, False),
    ]
    assert Experiment.objects.get(pk=body["id"]).minimum_effect == 0.02


def test_the_created_experiment_is_at_the_location_header(welcome, welcome_v2, writer):
    response = writer.post(LIST, NEW, format="json")
    assert response["Location"].endswith(f"/api/v1/experiments/{response.json()['id']}")
    assert writer.get(response["Location"]).json()["name"] == "Shorter welcome"


def test_an_unknown_template_names_the_template_field(welcome, writer):
    error = _error(writer.post(LIST, {**NEW, "template": "nope"}, format="json"), 400)
    assert (error["field"], error["code"]) == ("template", "not_found")


def test_an_unknown_version_names_the_variant(welcome, writer):
    error = _error(writer.post(LIST, NEW, format="json"), 400)  # welcome has only version 1 here
    assert (error["field"], error["code"]) == ("variants[1].version", "not_found")
    assert Experiment.objects.count() == 0


def test_two_controls_are_refused_and_nothing_is_written(welcome, welcome_v2, writer):
    variants = [{**v, "is_control": True} for v in VARIANTS]
    error = _error(writer.post(LIST, {**NEW, "variants": variants}, format="json"), 400)
    assert error["field"] == "variants" and "Exactly one variant must be the control" in error["message"]
    assert Experiment.objects.count() == 0


def test_a_primary_metric_that_is_also_a_guardrail_is_refused(welcome, welcome_v2, writer):
    body = {**NEW, "guardrail_metrics": ["converted"]}
    assert _error(writer.post(LIST, body, format="json"), 400)["field"] == "guardrail_metrics"


def test_a_minimum_effect_of_zero_is_refused(welcome, welcome_v2, writer):
    assert _error(writer.post(LIST, {**NEW, "minimum_effect": 0}, format="json"), 400)["field"] == "minimum_effect"


def test_a_malformed_variant_key_names_its_position(welcome, welcome_v2, writer):
    variants = [VARIANTS[0], {**VARIANTS[1], "key": "no spaces"}]
    assert _error(writer.post(LIST, {**NEW, "variants": variants}, format="json"), 400)["field"] == "variants[1].key"


def test_another_projects_template_is_unknown(welcome, welcome_v2, globex_key, api_client):
    error = _error(api_client(globex_key).post(LIST, NEW, format="json"), 400)
    assert (error["field"], error["code"]) == ("template", "not_found")


def test_a_read_key_cannot_create(welcome, welcome_v2, acme_read_key, api_client):
    assert _error(api_client(acme_read_key).post(LIST, NEW, format="json"), 403)["code"] == "permission_denied"


# --- change while a draft ------------------------------------------------------------------------


def test_a_draft_can_be_renamed_and_its_metrics_changed(draft, writer):
    response = writer.patch(
        _url(draft), {"name": "Renamed", "primary_metric": "clicked", "minimum_effect": 0.1}, format="json"
    )
    assert response.status_code == 200, response.content
    draft.refresh_from_db()
    assert (draft.name, draft.primary_metric, draft.minimum_effect, draft.status) == (
        "Renamed",
        "clicked",
        0.1,
        "draft",
    )


def test_a_draft_gets_new_variants(draft, writer):
    variants = [{"key": "a", "version": 2, "is_control": True}, {"key": "b", "version": 1, "weight": 2}]
    body = writer.patch(_url(draft), {"variants": variants}, format="json").json()
    assert [(v["key"], v["version"], v["weight"], v["is_control"]) for v in body["variants"]] == [
        ("a", 2, 1, True),
        ("b", 1, 2, False),
    ]


def test_an_invalid_status_names_the_status_field(draft, writer):
    assert _error(writer.patch(_url(draft), {"status": "draft"}, format="json"), 400)["field"] == "status"


# --- start, pause, finish --------------------------------------------------------------------------


def test_status_running_starts_a_draft(draft, writer):
    body = writer.patch(_url(draft), {"status": "running"}, format="json").json()
    assert body["status"] == "running" and body["started_at"] is not None
    assert Experiment.objects.get(pk=draft.pk).status == "running"


def test_it_pauses_resumes_and_finishes(draft, writer):
    statuses = [
        writer.patch(_url(draft), {"status": s}, format="json").json()["status"]
        for s in ("running", "paused", "running", "finished")
    ]
    assert statuses == ["running", "paused", "running", "finished"]
    assert Experiment.objects.get(pk=draft.pk).finished_at is not None


def test_a_finished_experiment_cannot_restart(draft, writer):
    for status in ("running", "finished"):
        writer.patch(_url(draft), {"status": status}, format="json")
    error = _error(writer.patch(_url(draft), {"status": "running"}, format="json"), 409)
    assert (error["field"], error["code"]) == ("status", "invalid_transition")


def test_a_draft_cannot_be_paused(draft, writer):
    assert _error(writer.patch(_url(draft), {"status": "paused"}, format="json"), 409)["code"] == "invalid_transition"


def test_asking_for_the_current_status_changes_nothing(welcome_experiment, writer):
    started = welcome_experiment.started_at
    response = writer.patch(_url(welcome_experiment), {"status": "running"}, format="json")
    assert response.status_code == 200
    assert Experiment.objects.get(pk=welcome_experiment.pk).started_at == started


def test_a_second_running_experiment_on_the_template_is_a_conflict(welcome_experiment, draft, writer):
    error = _error(writer.patch(_url(draft), {"status": "running"}, format="json"), 409)
    assert (error["field"], error["code"]) == ("status", "already_running")


def test_a_refused_start_writes_none_of_the_other_changes(welcome_experiment, draft, writer):
    variants = [{"key": "a", "version": 2, "is_control": True}, {"key": "b", "version": 1}]
    change = {"name": "Renamed", "variants": variants, "status": "running"}
    _error(writer.patch(_url(draft), change, format="json"), 409)
    draft.refresh_from_db()
    assert draft.name == "Draft"
    assert sorted(draft.variants.values_list("key", flat=True)) == ["control", "short"]


# --- frozen once started ---------------------------------------------------------------------------


def test_variants_of_a_running_experiment_are_frozen(welcome_experiment, writer):
    variants = [{"key": "control", "version": 1, "is_control": True}, {"key": "short", "version": 2, "weight": 9}]
    error = _error(writer.patch(_url(welcome_experiment), {"variants": variants}, format="json"), 409)
    assert (error["field"], error["code"]) == ("variants", "frozen")
    assert sorted(welcome_experiment.variants.values_list("weight", flat=True)) == [1, 1]


def test_metrics_of_a_running_experiment_are_frozen(welcome_experiment, writer):
    error = _error(writer.patch(_url(welcome_experiment), {"minimum_effect": 0.5}, format="json"), 409)
    assert (error["field"], error["code"]) == ("minimum_effect", "frozen")


def test_a_running_experiment_can_be_renamed_with_its_unchanged_fields_sent_back(welcome_experiment, writer):
    current = writer.get(_url(welcome_experiment)).json()
    keep = ("primary_metric", "guardrail_metrics", "minimum_effect")
    body = {
        **{name: current[name] for name in keep},
        "name": "Renamed",
        "variants": [{k: v[k] for k in ("key", "version", "weight", "is_control")} for v in current["variants"]],
    }
    response = writer.patch(_url(welcome_experiment), body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Renamed"


# --- who may do what -------------------------------------------------------------------------------


def test_an_editor_may_change_a_draft(draft, bob, client):
    response = _session(client, bob).patch(_url(draft), {"name": "By Bob"}, format="json")
    assert response.status_code == 200, response.content


def test_an_editor_may_not_start_an_experiment(draft, bob, client):
    error = _error(_session(client, bob).patch(_url(draft), {"status": "running"}, format="json"), 403)
    assert "publisher" in error["message"]
    assert Experiment.objects.get(pk=draft.pk).status == "draft"


def test_a_publisher_may_start_an_experiment(draft, alice, client):
    response = _session(client, alice).patch(_url(draft), {"status": "running"}, format="json")
    assert response.json()["status"] == "running"


def test_a_viewer_may_not_create(welcome, welcome_v2, victor, client):
    assert _error(_session(client, victor).post(LIST, NEW, format="json"), 403)["code"] == "permission_denied"


# --- renders follow the status at once (the render cache is cleared on commit) --------------------


@pytest.mark.django_db(transaction=True)
def test_starting_through_the_api_shows_in_the_next_render(draft, writer):
    label_move(template=draft.template, name="production", version=draft.template.versions.get(number=1))
    payload = {"variables": {"name": "A"}, "subject": "user-1"}
    assert writer.post(RENDER, payload, format="json").json()["experiment"] is None
    assert writer.patch(_url(draft), {"status": "running"}, format="json").status_code == 200
    shown = writer.post(RENDER, payload, format="json").json()["experiment"]
    assert shown is not None and shown["id"] == draft.pk
    assert writer.patch(_url(draft), {"status": "paused"}, format="json").status_code == 200
    assert writer.post(RENDER, payload, format="json").json()["experiment"] is None


def test_the_schema_documents_the_conflict_of_a_status_change(db, client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    patch = schema["paths"]["/api/v1/experiments/{id}"]["patch"]
    assert {"200", "400", "403", "409"} <= set(patch["responses"])
    body = _component(schema, patch["requestBody"]["content"]["application/json"]["schema"])
    assert _component(schema, body["properties"]["status"]["allOf"][0])["enum"] == ["running", "paused", "finished"]
    assert "required" not in body


def _component(schema: dict, ref: dict) -> dict:
    return schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
