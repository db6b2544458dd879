"""The "Compare versions" page: an experiment from its template, prefilled, every problem at once."""

import pytest
from django.urls import reverse

from promptlib.batches.datasets import CaseData, cases_add, dataset_create
from promptlib.batches.models import ScorerConfig
from promptlib.experiments.models import Experiment
from promptlib.prompts.services import label_move, template_create, version_create
from tests.batches_support import triage_content

pytestmark = pytest.mark.django_db
COMPARE = reverse("admin:promptlib_experiment_compare")


@pytest.fixture
def triage(acme):
    """A triage prompt with three versions, production on version 2, and a dataset with expected fields."""
    template = template_create(project=acme, slug="triage", title="Triage")
    versions = [version_create(template=template, content=triage_content(f"Classify ({n})."))[0] for n in (1, 2, 3)]
    label_move(template=template, name="production", version=versions[1])
    dataset = dataset_create(project=acme, name="triage-cases", template=template)
    cases_add(dataset=dataset, cases=[CaseData(input={"ticket": "Refund"}, expected_fields={"category": "billing"})])
    return template


def _page(client, user, template):
    client.force_login(user)
    return client.get(f"{COMPARE}?template={template.pk}")


def test_the_form_is_prefilled_from_the_template_and_its_dataset(client, bob, triage):
    form = _page(client, bob, triage).context["form"]
    assert (form.initial["control"].number, form.initial["challenger"].number) == (2, 3)  # production vs newest
    assert form.initial["dataset"].name == "triage-cases"
    # expected fields in the cases → right classification; an output schema → follows the format
    assert form.initial["scorer_kinds"] == ["expected_fields", "json_schema"]
    assert form.initial["primary_metric"] == "task_success_rate"


def test_metrics_are_offered_by_their_plain_names_with_their_direction(client, bob, triage):
    form = _page(client, bob, triage).context["form"]
    labels = {name: label for _, group in form.fields["primary_metric"].choices for name, label in group}
    assert labels["task_success_rate"] == "Task success (higher is better)"
    assert labels["cost_per_success_usd"] == "Cost per successful answer (lower is better)"
    assert dict(form.fields["guardrail_metrics"].choices) == labels


def test_the_version_lists_offer_only_this_templates_versions(client, bob, triage, acme):
    other = template_create(project=acme, slug="welcome", title="Welcome")
    version_create(template=other, content=triage_content("Say hello."))
    form = _page(client, bob, triage).context["form"]
    assert {v.template_id for v in form.fields["control"].queryset} == {triage.pk}
    assert {v.template_id for v in form.fields["challenger"].queryset} == {triage.pk}


def test_posting_the_prefilled_form_creates_the_experiment_and_its_checks_then_leads_to_a_batch(client, bob, triage):
    form = _page(client, bob, triage).context["form"]
    posted = {"template": triage.pk, "name": form.initial["name"], "control": form.initial["control"].pk,
              "challenger": form.initial["challenger"].pk, "dataset": form.initial["dataset"].pk,
              "scorer_kinds": form.initial["scorer_kinds"], "primary_metric": "task_success_rate",
              "guardrail_metrics": ["cost_per_success_usd"], "minimum_effect": "0.05"}  # fmt: skip
    r = client.post(COMPARE, posted)
    experiment = Experiment.objects.get()
    assert r.status_code == 302
    assert r["Location"] == f"/admin/promptlib/batch/start/?experiment={experiment.pk}&dataset={posted['dataset']}"
    variants = {v.key: (v.version.number, v.is_control) for v in experiment.variants.all()}
    assert variants == {"control": (2, True), "challenger": (3, False)}
    assert experiment.guardrail_metrics == ["cost_per_success_usd"] and experiment.created_by == bob
    assert list(ScorerConfig.objects.values_list("kind", "name")) == [
        ("expected_fields", "category_match"), ("json_schema", "follows_format")
    ]  # fmt: skip


def test_every_problem_is_shown_at_once_and_nothing_is_created(client, bob, triage):
    version = triage.versions.get(number=3)
    client.force_login(bob)
    r = client.post(COMPARE, {"template": triage.pk, "name": "", "control": version.pk, "challenger": version.pk,
                              "primary_metric": "task_success_rate", "guardrail_metrics": ["task_success_rate"],
                              "minimum_effect": "0"})  # fmt: skip
    assert r.status_code == 200
    assert set(r.context["form"].errors) == {"name", "challenger", "guardrail_metrics", "minimum_effect"}
    assert not Experiment.objects.exists()


def test_a_viewer_cannot_open_the_page(client, victor, triage):
    assert _page(client, victor, triage).status_code == 403


def test_another_projects_template_is_not_offered(client, gina, triage):
    r = _page(client, gina, triage)
    assert r.status_code == 200 and "form" not in r.context and not list(r.context["templates"])


def test_the_template_page_links_to_the_compare_page(client, bob, triage):
    client.force_login(bob)
    page = client.get(reverse("admin:promptlib_template_change", args=[triage.pk])).content.decode()
    assert f"{COMPARE}?template={triage.pk}" in page and "Compare versions in a test" in page


def test_the_experiment_list_leads_to_the_compare_page_which_asks_for_the_prompt_first(client, bob, triage, acme):
    template_create(project=acme, slug="one-version", title="One version")  # nothing to compare yet
    client.force_login(bob)
    assert COMPARE in client.get(reverse("admin:promptlib_experiment_changelist")).content.decode()
    r = client.get(COMPARE)
    assert [t.title for t in r.context["templates"]] == ["Triage"]


def test_a_prompt_with_one_version_is_told_to_save_a_second(client, bob, acme):
    template = template_create(project=acme, slug="solo", title="Solo")
    version_create(template=template, content=triage_content("Classify."))
    assert 'id="one-version"' in _page(client, bob, template).content.decode()
