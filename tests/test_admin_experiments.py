import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from promptlib.models import Experiment
from promptlib.services.experiments import VariantSpec, experiment_create
from promptlib.services.templates import template_create, version_create

ADD = reverse("admin:promptlib_experiment_add")
CHANGELIST = reverse("admin:promptlib_experiment_changelist")


def _form(template, variants, **fields):
    data = {
        "template": template.pk,
        "name": "Shorter welcome",
        "description": "",
        "primary_metric": "converted",
        "guardrail_metrics": "cost_usd",
        "minimum_effect": "0.05",
        "variants-TOTAL_FORMS": len(variants),
        "variants-INITIAL_FORMS": 0,
        "variants-MIN_NUM_FORMS": 0,
        "variants-MAX_NUM_FORMS": 1000,
    }
    for i, (key, version, weight, control) in enumerate(variants):
        data.update({f"variants-{i}-key": key, f"variants-{i}-version": version.pk, f"variants-{i}-weight": weight})
        if control:
            data[f"variants-{i}-is_control"] = "on"
    return {**data, **fields}


def _draft(welcome, welcome_v2):
    return experiment_create(
        template=welcome,
        name="Draft",
        variants=[
            VariantSpec(key="control", version=welcome.versions.get(number=1), is_control=True),
            VariantSpec(key="short", version=welcome_v2),
        ],
    )


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def _act(client, action, experiments):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [e.pk for e in experiments]}, follow=True)


def test_an_editor_creates_an_experiment_with_its_variants(welcome, welcome_v2, bob, client):
    client.force_login(bob)
    v1 = welcome.versions.get(number=1)
    response = client.post(ADD, _form(welcome, [("control", v1, 1, True), ("short", welcome_v2, 1, False)]))
    assert response.status_code == 302, response.context["errors"] if response.context else response
    experiment = Experiment.objects.get()
    assert (experiment.status, experiment.project_id, experiment.guardrail_metrics) == (
        "draft",
        welcome.project_id,
        ["cost_usd"],
    )
    assert sorted(experiment.variants.values_list("key", "weight")) == [("control", 1), ("short", 1)]


def test_a_version_of_another_template_is_refused_with_a_message(acme, welcome, welcome_content, alice, client):
    other = template_create(project=acme, slug="other", title="Other")
    foreign, _ = version_create(template=other, content=welcome_content)
    client.force_login(alice)
    v1 = welcome.versions.get(number=1)
    response = client.post(ADD, _form(welcome, [("control", v1, 1, True), ("b", foreign, 1, False)]))
    assert response.status_code == 200
    assert "is not a version of template" in response.content.decode()
    assert not Experiment.objects.exists()


def test_two_controls_are_refused_with_a_message(welcome, welcome_v2, alice, client):
    client.force_login(alice)
    v1 = welcome.versions.get(number=1)
    response = client.post(ADD, _form(welcome, [("a", v1, 1, True), ("b", welcome_v2, 1, True)]))
    assert "Exactly one variant must be the control" in response.content.decode()
    assert not Experiment.objects.exists()


def test_a_publisher_starts_pauses_and_finishes(welcome, welcome_v2, alice, client):
    experiment = _draft(welcome, welcome_v2)
    client.force_login(alice)
    _act(client, "start_experiments", [experiment])
    assert Experiment.objects.get().status == "running"
    _act(client, "pause_experiments", [experiment])
    assert Experiment.objects.get().status == "paused"
    _act(client, "finish_experiments", [experiment])
    assert Experiment.objects.get().status == "finished"


def test_an_editor_cannot_start_an_experiment(welcome, welcome_v2, bob, client):
    experiment = _draft(welcome, welcome_v2)
    client.force_login(bob)
    _act(client, "start_experiments", [experiment])
    assert Experiment.objects.get().status == "draft"


def test_a_second_running_experiment_is_refused_with_a_message(welcome, welcome_v2, welcome_experiment, alice, client):
    second = _draft(welcome, welcome_v2)
    client.force_login(alice)
    response = _act(client, "start_experiments", [second])
    assert any("already has a running experiment" in m for m in _messages(response))
    assert Experiment.objects.get(pk=second.pk).status == "draft"


def test_pausing_a_draft_is_refused_with_a_message(welcome, welcome_v2, alice, client):
    experiment = _draft(welcome, welcome_v2)
    client.force_login(alice)
    response = _act(client, "pause_experiments", [experiment])
    assert any("only a running experiment can be paused" in m for m in _messages(response))


def test_a_running_experiments_weights_cannot_change(welcome, welcome_experiment, alice, client):
    client.force_login(alice)
    url = reverse("admin:promptlib_experiment_change", args=[welcome_experiment.pk])
    page = client.get(url).content.decode()
    assert 'name="variants-0-weight"' not in page  # the rows are read-only
    client.post(url, {"name": "Renamed", "description": "", "variants-0-weight": "9"})
    assert sorted(welcome_experiment.variants.values_list("weight", flat=True)) == [1, 1]


def test_a_drafts_version_picker_offers_only_its_templates_versions(
    acme, welcome, welcome_v2, welcome_content, alice, client
):
    other = template_create(project=acme, slug="other", title="Other")
    version_create(template=other, content=welcome_content)
    draft = _draft(welcome, welcome_v2)
    client.force_login(alice)
    response = client.get(reverse("admin:promptlib_experiment_change", args=[draft.pk]))
    choices = response.context["inline_admin_formsets"][0].formset.forms[0].fields["version"].queryset
    assert {v.template_id for v in choices} == {welcome.pk}


def test_another_projects_user_cannot_see_the_experiment(welcome_experiment, gina, client):
    client.force_login(gina)
    assert welcome_experiment.name not in client.get(CHANGELIST).content.decode()
    response = client.get(reverse("admin:promptlib_experiment_change", args=[welcome_experiment.pk]))
    assert response.status_code in (302, 404)


@pytest.mark.django_db(transaction=True)
def test_starting_in_the_admin_shows_in_the_next_render(welcome, welcome_v2, alice, client, acme_read_key, api_client):
    from promptlib.services.templates import label_move

    label_move(template=welcome, name="production", version=welcome.versions.get(number=1))
    experiment = _draft(welcome, welcome_v2)
    api = api_client(acme_read_key)
    payload = {"variables": {"name": "A"}, "subject": "u1"}
    assert api.post("/api/v1/templates/welcome-email/render", payload, format="json").json()["experiment"] is None
    client.force_login(alice)
    _act(client, "start_experiments", [experiment])
    body = api.post("/api/v1/templates/welcome-email/render", payload, format="json").json()
    assert body["experiment"]["id"] == experiment.pk


def test_the_add_page_offers_two_variant_rows(welcome, bob, client):
    client.force_login(bob)
    response = client.get(ADD)
    assert response.status_code == 200
    assert 'name="variants-1-version"' in response.content.decode()
