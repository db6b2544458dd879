"""Guardrail margins: picked from a form by a marketer, stored while a draft, refused otherwise."""

import pytest

from promptlib.experiments.margins import experiment_margins_set, guardrail_margin, margin_choices
from promptlib.experiments.models import Experiment
from promptlib.experiments.services import ExperimentError
from tests.experiments.test_admin import ADD, _draft, _form


def test_a_marketer_picks_a_margin_from_the_form(welcome, welcome_v2, bob, client):
    client.force_login(bob)
    v1 = welcome.versions.get(number=1)
    form = _form(welcome, [("control", v1, 1, True), ("short", welcome_v2, 1, False)], margin_latency_p95_ms="0.2")
    page = client.get(ADD).content.decode()
    assert "Response time (slowest 5%): allowed worsening" in page
    assert "+20% worse at most" in page
    response = client.post(ADD, form)
    assert response.status_code == 302
    experiment = Experiment.objects.get()
    assert experiment.guardrail_margins == {"latency_p95_ms": 0.2}
    assert guardrail_margin(experiment=experiment, metric="latency_p95_ms").text == "+20%"
    assert guardrail_margin(experiment=experiment, metric="cost_per_success_usd").text == "+5%"  # the default


def test_a_margin_not_offered_is_refused_with_a_form_error(welcome, welcome_v2, bob, client):
    client.force_login(bob)
    v1 = welcome.versions.get(number=1)
    response = client.post(
        ADD, _form(welcome, [("control", v1, 1, True), ("short", welcome_v2, 1, False)], margin_latency_p95_ms="7")
    )
    assert response.status_code == 200
    assert "margin_latency_p95_ms" in response.context["adminform"].form.errors
    assert not Experiment.objects.exists()


def test_rate_margins_are_points_and_others_shares():
    assert margin_choices("task_success_rate")[1] == (0.02, "2 points lower at most")
    assert margin_choices("cost_per_success_usd")[1] == (0.05, "+5% worse at most")


def test_margins_cannot_move_once_the_experiment_runs(welcome, welcome_v2):
    draft = _draft(welcome, welcome_v2)
    experiment_margins_set(experiment=draft, margins={"latency_p95_ms": 0.05})
    Experiment.objects.filter(pk=draft.pk).update(status=Experiment.Status.RUNNING)
    draft.refresh_from_db()
    with pytest.raises(ExperimentError) as error:
        experiment_margins_set(experiment=draft, margins={"latency_p95_ms": 0.5})
    assert error.value.status == 409
    assert Experiment.objects.get(pk=draft.pk).guardrail_margins == {"latency_p95_ms": 0.05}
