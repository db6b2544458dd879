import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from promptlib.experiments.app_metrics import application_metric_register
from promptlib.experiments.models import Experiment
from promptlib.experiments.services import VariantSpec, experiment_create
from promptlib.prompts.services import template_create, version_create

ADD = reverse("admin:promptlib_experiment_add")
CHANGELIST = reverse("admin:promptlib_experiment_changelist")


def _form(template, variants, **fields):
    data = {
        "template": template.pk,
        "name": "Shorter welcome",
        "description": "",
        "primary_metric": "task_success_rate",
        "guardrail_metrics": ["cost_per_success_usd"],
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
        ["cost_per_success_usd"],
    )
    assert sorted(experiment.variants.values_list("key", "weight")) == [("control", 1), ("short", 1)]


def test_a_version_of_another_template_is_refused_with_a_message(acme, welcome, welcome_content, alice, client):
    other = template_create(project=acme, slug="other", title="Other")
    foreign, _ = version_create(template=other, content=welcome_content)
    client.force_login(alice)
    v1 = welcome.versions.get(number=1)
    response = client.post(ADD, _form(welcome, [("control", v1, 1, True), ("b", foreign, 1, False)]))
    assert response.status_code == 200
    # The version list offers only the chosen template's versions, so another's is not a choice.
    assert "Select a valid choice" in response.content.decode()
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
    from promptlib.prompts.services import label_move

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


# --- one page for everything: links, lists, status buttons, help -----------------------------------


def _change_url(experiment) -> str:
    return reverse("admin:promptlib_experiment_change", args=[experiment.pk])


def _page(client, user, experiment):
    client.force_login(user)
    response = client.get(_change_url(experiment))
    assert response.status_code == 200
    return response


def _running_elsewhere(project, content, metric: str) -> Experiment:
    """A running experiment of another template of `project` with one outcome reported for `metric`."""
    from promptlib.experiments.assignment import variant_pick
    from promptlib.experiments.outcomes import outcomes_record
    from promptlib.experiments.services import experiment_start

    template = template_create(project=project, slug="elsewhere", title="Elsewhere")
    v1, _ = version_create(template=template, content=content)
    v2, _ = version_create(template=template, content=content.__class__(**{**content.__dict__, "task": "Hi."}))
    experiment = experiment_start(
        experiment=experiment_create(
            template=template,
            name="Elsewhere",
            variants=[VariantSpec(key="control", version=v1, is_control=True), VariantSpec(key="b", version=v2)],
        )
    )
    key = variant_pick(salt=experiment.salt, subject="s", weights=[("control", 1), ("b", 1)])
    event = {"experiment": experiment.pk, "variant": key, "subject": "s", "metric": metric, "value": 1, "event_id": "e"}
    assert outcomes_record(project_id=project.pk, events=[(0, event)]).stored == 1
    return experiment


def test_the_change_page_links_to_run_and_schedule_batches(triage_experiment, alice, client):
    page = _page(client, alice, triage_experiment).content.decode()
    ask = f"?experiment={triage_experiment.pk}"
    assert f'href="{reverse("admin:promptlib_batch_start")}{ask}"' in page
    assert f'href="{reverse("admin:promptlib_batchschedule_new")}{ask}"' in page
    assert f'href="{reverse("promptlib_experiment_dashboard", args=[triage_experiment.pk])}"' in page


def test_the_run_batch_link_opens_the_batch_form_with_the_experiment_chosen(triage_experiment, alice, client):
    links = _page(client, alice, triage_experiment).context["experiment_links"]
    response = client.get(links["run_batch"])
    assert response.status_code == 200
    assert str(response.context["form"].initial["experiment"]) == str(triage_experiment.pk)


def test_the_schedule_link_opens_the_schedule_form_with_the_experiment_chosen(triage_experiment, alice, client):
    links = _page(client, alice, triage_experiment).context["experiment_links"]
    response = client.get(links["schedule"])
    assert response.status_code == 200
    assert str(response.context["form"].initial["experiment"]) == str(triage_experiment.pk)


def test_the_page_lists_only_this_experiments_batches(
    triage_experiment, welcome_experiment, tickets, demo_provider, alice, client
):
    from tests.batches_support import make_batch

    mine = make_batch(triage_experiment, tickets)
    other = make_batch(welcome_experiment, tickets, provider=demo_provider)
    page = _page(client, alice, triage_experiment).content.decode()
    assert reverse("admin:promptlib_batch_change", args=[mine.pk]) in page
    assert reverse("admin:promptlib_batch_change", args=[other.pk]) not in page
    assert "Test batches (1)" in page


def test_the_all_batches_link_shows_only_this_experiments_batches(
    triage_experiment, welcome_experiment, tickets, demo_provider, alice, client
):
    from tests.batches_support import make_batch

    mine = make_batch(triage_experiment, tickets)
    make_batch(welcome_experiment, tickets, provider=demo_provider)
    links = _page(client, alice, triage_experiment).context["experiment_links"]
    response = client.get(links["batches"])
    assert [batch.pk for batch in response.context["cl"].result_list] == [mine.pk]


def test_the_page_lists_schedules_with_their_timing(triage_experiment, tickets, alice, client):
    from promptlib.batches.schedules import batch_schedule_create
    from promptlib.batches.services import BatchSettings

    settings = BatchSettings(experiment=triage_experiment, dataset=tickets)
    batch_schedule_create(name="Nightly triage", settings=settings, every_seconds=3600)
    page = _page(client, alice, triage_experiment).content.decode()
    assert "Nightly triage" in page and "Schedules (1)" in page
    assert "<td>Every hour</td><td>Running</td>" in page


def test_the_page_lists_its_scorers_and_links_to_add_one(triage_experiment, alice, client):
    response = _page(client, alice, triage_experiment)
    page = response.content.decode()
    assert "category_match" in page and "Scorers (2)" in page
    add = client.get(response.context["experiment_links"]["add_scorer"])
    assert add.status_code == 200
    assert str(add.context["adminform"].form.initial["experiment"]) == str(triage_experiment.pk)


def test_a_viewer_gets_neither_batch_links_nor_status_buttons(triage_experiment, victor, client):
    page = _page(client, victor, triage_experiment).content.decode()
    assert 'id="run-batch-link"' not in page and 'id="status-running"' not in page
    assert 'id="dashboard-link"' in page


def test_a_publisher_starts_the_experiment_with_the_button(welcome, welcome_v2, alice, client):
    draft = _draft(welcome, welcome_v2)
    page = _page(client, alice, draft)
    response = client.post(page.context["experiment_links"]["status"], {"status": "running"})
    assert response.status_code == 302 and response["Location"] == _change_url(draft)
    assert Experiment.objects.get(pk=draft.pk).status == "running"


def test_the_buttons_follow_the_status(welcome_experiment, alice, client):
    page = _page(client, alice, welcome_experiment).content.decode()
    assert 'id="status-paused"' in page and 'id="status-finished"' in page
    assert 'id="status-running"' not in page


def test_an_editor_gets_no_status_buttons_and_cannot_start(welcome, welcome_v2, bob, client):
    draft = _draft(welcome, welcome_v2)
    assert 'id="status-running"' not in _page(client, bob, draft).content.decode()
    response = client.post(reverse("admin:promptlib_experiment_status", args=[draft.pk]), {"status": "running"})
    assert any("publisher role" in m for m in _messages(response))
    assert Experiment.objects.get(pk=draft.pk).status == "draft"


def test_a_refused_button_shows_the_reason(welcome, welcome_v2, welcome_experiment, alice, client):
    draft = _draft(welcome, welcome_v2)
    client.force_login(alice)
    url = reverse("admin:promptlib_experiment_status", args=[draft.pk])
    response = client.post(url, {"status": "running"}, follow=True)
    assert any("already has a running experiment" in m for m in _messages(response))


def test_another_projects_user_cannot_press_the_button(welcome_experiment, gina, client):
    client.force_login(gina)
    url = reverse("admin:promptlib_experiment_status", args=[welcome_experiment.pk])
    assert client.post(url, {"status": "finished"}).status_code == 404
    assert Experiment.objects.get(pk=welcome_experiment.pk).status == "running"


def test_every_field_of_the_add_form_has_help(welcome, bob, client):
    client.force_login(bob)
    response = client.get(ADD)
    form = response.context["adminform"].form
    variant_form = response.context["inline_admin_formsets"][0].formset.forms[0]
    missing = [name for name, field in {**form.fields, **variant_form.fields}.items() if not field.help_text]
    assert missing == [name for name in missing if name in ("id", "experiment", "DELETE")]


def test_the_primary_metric_is_picked_from_a_list_in_plain_words_not_typed(acme, welcome, bob, client):
    application_metric_register(project=acme, name="converted", label="Sign-ups", direction="higher")
    client.force_login(bob)
    response = client.get(ADD)
    field = response.context["adminform"].form.fields["primary_metric"]
    groups = dict(field.choices)
    assert dict(groups["From test batches"])["task_success_rate"] == "Task success (higher is better)"
    assert dict(groups["From test batches"])["cost_per_success_usd"] == "Cost per successful answer (lower is better)"
    assert dict(groups["Reported by your application"]) == {"converted": "Sign-ups (higher is better)"}
    page = response.content.decode()
    assert '<select name="primary_metric"' in page and 'list="id_primary_metric-names"' not in page
    assert "task_success_rate" not in field.help_text  # no code name to read or type


def test_a_reported_metric_nobody_registered_is_not_offered_and_the_help_says_why(
    acme, welcome, welcome_content, bob, client
):
    _running_elsewhere(acme, welcome_content, "signed_up")
    client.force_login(bob)
    field = client.get(ADD).context["adminform"].form.fields["primary_metric"]
    assert "signed_up" not in {name for _, group in field.choices for name, _ in group}
    assert "Reported but not registered yet, so not listed: signed_up" in field.help_text


def test_a_registered_application_metric_decides_and_an_unregistered_one_is_refused(
    acme, welcome, welcome_v2, bob, client
):
    application_metric_register(project=acme, name="converted", label="Sign-ups", direction="higher")
    client.force_login(bob)
    v1 = welcome.versions.get(number=1)
    variants = [("control", v1, 1, True), ("short", welcome_v2, 1, False)]
    response = client.post(ADD, _form(welcome, variants, primary_metric="complaints"))
    assert response.status_code == 200 and not Experiment.objects.exists()
    assert "primary_metric" in response.context["adminform"].form.errors
    response = client.post(ADD, _form(welcome, variants, primary_metric="converted"))
    assert response.status_code == 302
    assert Experiment.objects.get().primary_metric == "converted"


def test_a_metric_registered_in_another_project_cannot_decide_this_templates_experiment(
    acme, globex, welcome, welcome_v2, django_user_model, client
):
    from promptlib.core.models import Membership, Role

    application_metric_register(project=globex, name="revenue", label="Revenue", direction="higher")
    both = django_user_model.objects.create_user("both", password="pw-both", is_staff=True)
    for project in (acme, globex):
        Membership.objects.create(user=both, project=project, role=Role.EDITOR)
    client.force_login(both)
    v1 = welcome.versions.get(number=1)
    response = client.post(ADD, _form(welcome, [("control", v1, 1, True), ("b", welcome_v2, 1, False)],
                                      primary_metric="revenue"))  # fmt: skip
    assert response.status_code == 200 and not Experiment.objects.exists()
    assert response.context["adminform"].form.errors["primary_metric"] == [
        "Choose a number registered in the template's project."
    ]


def test_a_running_experiments_read_only_metrics_keep_their_help(welcome_experiment, alice, client):
    page = _page(client, alice, welcome_experiment).content.decode()
    assert "The smallest difference worth detecting" in page
    assert "The one number that decides which version wins" in page


def test_every_problem_of_the_variants_is_shown_at_once(welcome, welcome_v2, alice, client):
    client.force_login(alice)
    v1 = welcome.versions.get(number=1)
    response = client.post(ADD, _form(welcome, [("a", v1, 0, True), ("b", welcome_v2, 1, True)]))
    page = response.content.decode()
    assert "Exactly one variant must be the control; 2 are marked." in page
    assert "Variant &#x27;a&#x27;: the weight must be a positive whole number." in page
    assert not Experiment.objects.exists()
