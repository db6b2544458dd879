"""Admin pages say things in a marketer's words: readable numbers and values, links between related pages."""

import re

import pytest
from django.urls import reverse

from promptlib.admin.display import named_values
from promptlib.batches.admin.present import metric_text, time_left_text
from promptlib.batches.services import batch_run_inline
from promptlib.core.apikeys import api_key_create, api_key_revoke
from promptlib.core.models import ApiKey
from promptlib.experiments.metrics import METRICS
from promptlib.providers.models import ProviderConfig
from tests.batches_support import make_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished_batch(triage_experiment, tickets):
    return batch_run_inline(batch=make_batch(triage_experiment, tickets))


def _page(client, user, url: str) -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


# --- values and numbers ------------------------------------------------------------------------


def test_a_rate_reads_as_a_percentage():
    assert metric_text(METRICS["task_success_rate"], 0.1833) == "18.3%"


def test_a_cost_reads_in_dollars():
    assert metric_text(METRICS["cost_per_success_usd"], 0.00123) == "$0.0012"


def test_a_missing_metric_reads_as_a_dash():
    assert metric_text(METRICS["latency_p50_ms"], None) == "—"


def test_case_inputs_read_as_names_and_values():
    assert named_values({"ticket": "Charged twice", "count": 2}) == [("ticket", "Charged twice"), ("count", "2")]


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "about 1 second left"),
        (45, "about 45 seconds left"),
        (90, "about 2 minutes left"),
        (3600, "about 1 hour left"),
        (None, "time left not known yet"),
    ],
)
def test_the_time_left_reads_in_words_with_the_right_plural(seconds, words):
    assert time_left_text(seconds) == words


def test_the_batch_progress_says_the_time_left_in_words(client, bob, triage_experiment, tickets):
    batch = make_batch(triage_experiment, tickets)
    client.force_login(bob)
    progress = client.get(reverse("admin:promptlib_batch_progress", args=[batch.pk])).json()
    assert progress["time_left"] == "time left not known yet"
    assert "seconds left" not in _page(client, bob, reverse("admin:promptlib_batch_change", args=[batch.pk]))


# --- batch, review and dashboard pages -----------------------------------------------------------


def test_the_batch_page_shows_success_as_a_percentage(client, bob, finished_batch):
    page = _page(client, bob, reverse("admin:promptlib_batch_change", args=[finished_batch.pk]))
    assert "Task success" in page and "%</td>" in page


def test_the_batch_page_is_titled_with_its_experiment_and_dataset(client, bob, finished_batch):
    page = _page(client, bob, reverse("admin:promptlib_batch_change", args=[finished_batch.pk]))
    assert f"Batch {finished_batch.pk} — Triage wording, on tickets" in page


def test_the_batch_page_links_to_which_version_wins(client, bob, finished_batch):
    page = _page(client, bob, reverse("admin:promptlib_batch_change", args=[finished_batch.pk]))
    assert reverse("promptlib_experiment_dashboard", args=[finished_batch.experiment_id]) in page


def test_the_batch_page_shows_its_tags_as_words_not_a_list(client, bob, triage_experiment, tickets):
    batch = make_batch(triage_experiment, tickets)
    batch.tags = ["billing", "vip"]
    batch.save(update_fields=["tags"])
    page = _page(client, bob, reverse("admin:promptlib_batch_change", args=[batch.pk]))
    assert "billing, vip" in page and "[&quot;billing&quot;" not in page and '["billing"' not in page


def test_the_batch_page_hides_speed_and_time_left_once_finished(client, bob, finished_batch):
    page = _page(client, bob, reverse("admin:promptlib_batch_change", args=[finished_batch.pk]))
    assert 'class="promptlib-while-running" hidden' in page


def test_the_review_page_shows_the_input_without_python_braces(client, bob, finished_batch):
    item = finished_batch.items.order_by("id").first()
    page = _page(client, bob, reverse("admin:promptlib_batchitem_review", args=[item.pk]))
    assert "<dt>ticket</dt>" in page and "{&#x27;ticket&#x27;" not in page


def test_the_dashboard_shows_the_case_input_as_names_and_values(client, bob, finished_batch):
    page = _page(client, bob, reverse("promptlib_experiment_dashboard", args=[finished_batch.experiment_id]))
    assert "<dt>ticket</dt>" in page and "{&#x27;ticket&#x27;" not in page


def test_the_dashboard_links_each_past_batch(client, bob, finished_batch):
    page = _page(client, bob, reverse("promptlib_experiment_dashboard", args=[finished_batch.experiment_id]))
    assert reverse("admin:promptlib_batch_change", args=[finished_batch.pk]) in page


def test_the_dashboard_names_the_primary_metric_in_words(client, bob, finished_batch):
    page = _page(client, bob, reverse("promptlib_experiment_dashboard", args=[finished_batch.experiment_id]))
    assert "decided by <strong" in page and ">Task success</strong>" in page


def test_the_dashboard_links_back_to_the_template(client, bob, finished_batch):
    page = _page(client, bob, reverse("promptlib_experiment_dashboard", args=[finished_batch.experiment_id]))
    assert reverse("admin:promptlib_template_change", args=[finished_batch.experiment.template_id]) in page


def test_the_start_page_explains_what_a_batch_is(client, bob, acme):
    page = _page(client, bob, reverse("admin:promptlib_batch_start"))
    assert "A batch is a test run" in page


def test_the_start_page_says_when_there_is_no_experiment_to_test(client, bob, acme):
    page = _page(client, bob, reverse("admin:promptlib_batch_start"))
    assert 'id="no-experiments"' in page


# --- template, experiment, dataset pages -----------------------------------------------------------


def test_the_template_page_lists_its_experiments(client, bob, triage_experiment):
    url = reverse("admin:promptlib_template_change", args=[triage_experiment.template_id])
    page = _page(client, bob, url)
    assert reverse("promptlib_experiment_dashboard", args=[triage_experiment.pk]) in page


def test_the_template_page_offers_a_new_experiment_with_this_template(client, bob, welcome):
    page = _page(client, bob, reverse("admin:promptlib_template_change", args=[welcome.pk]))
    assert reverse("admin:promptlib_experiment_compare") + f"?template={welcome.pk}" in page


def test_a_viewer_is_not_offered_a_new_experiment(client, victor, welcome):
    page = _page(client, victor, reverse("admin:promptlib_template_change", args=[welcome.pk]))
    assert 'id="new-experiment-link"' not in page


def test_a_new_experiment_from_the_template_page_has_the_template_chosen(client, bob, welcome):
    client.force_login(bob)
    response = client.get(reverse("admin:promptlib_experiment_add") + f"?template={welcome.pk}")
    assert str(response.context["adminform"].form.initial["template"]) == str(welcome.pk)


def test_an_editor_learns_who_starts_a_draft_experiment(client, bob, triage_experiment):
    page = _page(client, bob, reverse("admin:promptlib_experiment_change", args=[triage_experiment.pk]))
    assert 'id="publisher-note"' in page


def test_a_publisher_sees_the_start_button_instead_of_the_note(client, alice, triage_experiment):
    page = _page(client, alice, reverse("admin:promptlib_experiment_change", args=[triage_experiment.pk]))
    assert 'id="status-running"' in page and 'id="publisher-note"' not in page


def test_the_experiments_bookkeeping_is_folded_away(client, bob, triage_experiment):
    client.force_login(bob)
    response = client.get(reverse("admin:promptlib_experiment_change", args=[triage_experiment.pk]))
    details = [fs for fs in response.context["adminform"].fieldsets if fs[0] == "Details"]
    assert details and "salt" in details[0][1]["fields"] and "collapse" in details[0][1]["classes"]


def test_the_dataset_page_explains_what_a_dataset_is(client, bob, tickets):
    page = _page(client, bob, reverse("admin:promptlib_dataset_change", args=[tickets.pk]))
    assert "A dataset is a list of test cases" in page


def test_the_dataset_page_links_to_its_batches(client, bob, finished_batch, tickets):
    client.force_login(bob)
    page = client.get(reverse("admin:promptlib_dataset_change", args=[tickets.pk])).content.decode()
    link = reverse("admin:promptlib_batch_changelist") + f"?dataset__id__exact={tickets.pk}"
    assert link in page
    assert client.get(link).context["cl"].result_count == 1


def test_the_dataset_cases_use_compact_boxes(client, bob, tickets):
    page = _page(client, bob, reverse("admin:promptlib_dataset_change", args=[tickets.pk]))
    boxes = re.findall(r'<textarea name="cases-\d+-input" cols="(\d+)"', page)
    assert boxes and set(boxes) == {"36"}


def test_the_version_page_shows_variables_as_a_table(client, bob, welcome):
    version = welcome.versions.get(number=1)
    page = _page(client, bob, reverse("admin:promptlib_version_change", args=[version.pk]))
    assert "<th>Required</th>" in page and '"required":' not in page


# --- settings pages --------------------------------------------------------------------------------


def test_a_provider_takes_model_names_separated_by_commas(client, alice, acme):
    client.force_login(alice)
    data = {"project": acme.pk, "name": "local", "kind": "openai", "base_url": "http://localhost:11434/v1",
            "models": "llama3, qwen2", "api_key_env": "", "timeout_seconds": 60, "max_concurrency": 2,
            "rpm_limit": 0, "max_retries": 2, "prices-TOTAL_FORMS": 0, "prices-INITIAL_FORMS": 0}  # fmt: skip
    client.post(reverse("admin:promptlib_providerconfig_add"), data)
    assert ProviderConfig.objects.get(name="local").models == ["llama3", "qwen2"]


def test_a_provider_page_shows_its_models_separated_by_commas(client, alice, demo_provider):
    demo_provider.models = ["a-model", "b-model"]
    demo_provider.save()
    page = _page(client, alice, reverse("admin:promptlib_providerconfig_change", args=[demo_provider.pk]))
    assert 'value="a-model, b-model"' in page


def test_api_keys_filter_by_active_or_revoked(client, alice, acme):
    active, _ = api_key_create(project=acme, scopes=["read"], name="live", created_by=alice)
    revoked, _ = api_key_create(project=acme, scopes=["read"], name="old", created_by=alice)
    api_key_revoke(api_key=revoked)
    client.force_login(alice)
    response = client.get(reverse("admin:promptlib_apikey_changelist") + "?status=revoked")
    assert [key.pk for key in response.context["cl"].result_list] == [revoked.pk]
    assert ApiKey.objects.count() == 2 and active.revoked_at is None
