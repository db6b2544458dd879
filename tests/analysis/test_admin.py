"""The experiment dashboard in the admin: isolation, each verdict state, progress, promotion, downloads."""

import pytest
from django.urls import reverse

from promptlib.batches.models import Batch, BatchItem
from promptlib.batches.services import batch_run_inline
from promptlib.experiments.models import Experiment
from promptlib.prompts.models import Label
from tests.analysis_support import add_batch, add_outcomes, make_dataset, winner_batch
from tests.batches_support import make_batch


def _url(experiment, name="dashboard"):
    return reverse(f"promptlib_experiment_{name}", args=[experiment.pk])


def test_it_answers_404_for_another_projects_experiment(client, wording_experiment, gina):
    client.force_login(gina)
    assert client.get(_url(wording_experiment)).status_code == 404


def test_it_sends_anonymous_visitors_to_the_login(client, wording_experiment):
    response = client.get(_url(wording_experiment))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize(
    ("control", "b", "cases", "state"),
    [
        (30, 55, 60, "We have a winner"),
        (55, 30, 60, "Challenger is worse"),
        (30, 31, 60, "No clear difference yet"),
        (3, 5, 10, "Collecting data"),
    ],
)
def test_it_shows_the_verdict_for_each_state(client, wording_experiment, acme, victor, control, b, cases, state):
    dataset = make_dataset(acme, cases=cases)
    add_batch(wording_experiment, dataset, passes={"control": lambda i: i < control, "b": lambda i: i < b})
    client.force_login(victor)
    response = client.get(_url(wording_experiment))
    assert response.status_code == 200
    assert state in response.content.decode()


def test_it_shows_a_guardrail_failure(client, wording_experiment, customers, victor):
    Experiment.objects.filter(pk=wording_experiment.pk).update(guardrail_metrics=["latency_p50_ms"])
    winner_batch(wording_experiment, customers, latency={"control": 800, "b": 2500})
    client.force_login(victor)
    assert "Guardrail failed" in client.get(_url(wording_experiment)).content.decode()


def test_it_loads_without_any_data(client, wording_experiment, victor):
    client.force_login(victor)
    body = client.get(_url(wording_experiment)).content.decode()
    assert "No batch has finished yet" in body
    assert "No production outcomes yet" in body


def test_it_names_the_methods_in_plain_words(client, wording_experiment, customers, victor):
    winner_batch(wording_experiment, customers)
    add_outcomes(wording_experiment, metric="task_success_rate", counts={"control": (40, 10), "b": (40, 30)})
    client.force_login(victor)
    body = client.get(_url(wording_experiment)).content.decode()
    assert "paired tests" in body
    assert "sequential test (mSPRT)" in body


def test_it_shows_a_case_side_by_side(client, wording_experiment, customers, victor):
    winner_batch(wording_experiment, customers)
    client.force_login(victor)
    response = client.get(_url(wording_experiment), {"show": "disagree"})
    assert [c.position for c in response.context["case_list"]][:2] == [31, 32]  # control fails from case 31 on
    columns = response.context["side_by_side"]
    assert [c["variant"].key for c in columns] == ["control", "b"]
    assert "Write a welcome email to Customer 31." in columns[1]["prompt"]


def test_the_failing_filter_lists_only_failing_cases(client, wording_experiment, customers, victor):
    winner_batch(wording_experiment, customers)
    client.force_login(victor)
    response = client.get(_url(wording_experiment), {"show": "failing"})
    assert len(response.context["case_list"]) == 30


def test_progress_reports_done_and_total(client, wording_experiment, customers, victor):
    batch = add_batch(
        wording_experiment, customers, passes={"control": bool, "b": bool}, status=Batch.Status.RUNNING,
        item_status=BatchItem.Status.PENDING,
    )  # fmt: skip
    BatchItem.objects.filter(pk__in=list(batch.items.values_list("pk", flat=True)[:30])).update(status="done")
    client.force_login(victor)
    data = client.get(_url(wording_experiment, "progress")).json()
    assert data["batches"] == [{"id": batch.pk, "status": "running", "total": 120, "done": 30, "percent": 25.0}]


def test_a_publisher_promotes_the_winner(client, wording_experiment, customers, alice):
    winner_batch(wording_experiment, customers)
    client.force_login(alice)
    response = client.post(_url(wording_experiment, "promote"), follow=True)
    assert "now points at version 2" in response.content.decode()
    assert Label.objects.get(template=wording_experiment.template, name="production").version.number == 2


def test_an_editor_cannot_promote(client, wording_experiment, customers, bob):
    winner_batch(wording_experiment, customers)
    client.force_login(bob)
    assert client.post(_url(wording_experiment, "promote")).status_code == 403
    assert Label.objects.get(template=wording_experiment.template, name="production").version.number == 1


def test_promotion_without_a_winner_shows_the_reason(client, wording_experiment, customers, alice):
    add_batch(wording_experiment, customers, passes={"control": lambda i: i < 30, "b": lambda i: i < 31})
    client.force_login(alice)
    response = client.post(_url(wording_experiment, "promote"), follow=True)
    assert "Not promoted: No clear difference yet" in response.content.decode()


def test_it_downloads_the_results_csv(client, wording_experiment, customers, victor):
    winner_batch(wording_experiment, customers)
    client.force_login(victor)
    response = client.get(_url(wording_experiment, "results_csv"))
    assert response["Content-Type"].startswith("text/csv")
    assert len(b"".join(response.streaming_content).decode().splitlines()) == 121


def test_it_downloads_the_finetuning_jsonl(client, wording_experiment, customers, victor):
    winner_batch(wording_experiment, customers)
    client.force_login(victor)
    response = client.get(_url(wording_experiment, "finetune_jsonl"))
    assert len(b"".join(response.streaming_content).decode().splitlines()) == 55


def test_the_experiment_page_links_to_the_dashboard(client, wording_experiment, victor):
    client.force_login(victor)
    response = client.get(reverse("admin:promptlib_experiment_change", args=[wording_experiment.pk]))
    assert _url(wording_experiment) in response.content.decode()


def test_promote_is_disabled_with_its_reason_on_a_draft_experiment(client, wording_experiment, alice):
    Experiment.objects.filter(pk=wording_experiment.pk).update(status=Experiment.Status.DRAFT)
    client.force_login(alice)
    response = client.get(_url(wording_experiment, "dashboard"))
    html = response.content.decode()
    assert 'id="promote-button" disabled' in html
    assert "This experiment has not started yet" in html and "promote-form" not in html


def test_after_promotion_the_page_says_it_is_done_and_offers_no_second_promotion(
    client, wording_experiment, customers, alice
):
    winner_batch(wording_experiment, customers)
    client.force_login(alice)
    html = client.post(_url(wording_experiment, "promote"), follow=True).content.decode()
    assert "Already done: this experiment has finished. “production” points at version 2." in html
    assert "promote-form" not in html


def test_a_metric_with_nothing_to_draw_gets_no_chart_but_keeps_its_row(client, wording_experiment, customers, victor):
    Experiment.objects.filter(pk=wording_experiment.pk).update(guardrail_metrics=["cost_per_success_usd", "retry_rate"])
    winner_batch(wording_experiment, customers)
    BatchItem.objects.update(cost_usd=0)  # no price known for the model (free, as far as we know); no retry
    client.force_login(victor)
    body = client.get(_url(wording_experiment)).content.decode()
    charts = body.split('id="dashboard-charts"')[1]
    assert 'data-chart="offline-task_success_rate"' in body and '"offline-task_success_rate"' in charts
    for empty in ("offline-cost_per_success_usd", "offline-retry_rate"):
        assert f'data-chart="{empty}"' not in body and f'"{empty}"' not in charts, empty
    assert "Retries per call" in body  # the table still has the row


def test_all_cases_lists_only_the_cases_that_ran(client, bob, triage_experiment, tickets):
    batch_run_inline(batch=make_batch(triage_experiment, tickets, tags=("even",)))  # 3 of the 6 cases
    client.force_login(bob)
    page = client.get(_url(triage_experiment) + "?show=all")
    listed = [case.pk for case in page.context["case_list"]]
    assert listed == [case.pk for case in tickets.cases.order_by("position") if "even" in case.tags]
    assert len(listed) == 3


def test_the_winner_is_tagged_on_the_metric_that_decided_only(client, wording_experiment, customers, victor):
    winner_batch(wording_experiment, customers)
    client.force_login(victor)
    body = client.get(_url(wording_experiment)).content.decode()
    start = body.index('id="section-offline"')
    offline = body[start : body.index("</section>", start)]
    assert offline.count('class="pl-winner-tag"') == 1  # the primary metric's row of the winner, no other row
    primary_row = offline[: offline.index('class="pl-winner-tag"')].rsplit('scope="rowgroup"', 1)[1]
    assert "primary" in primary_row
