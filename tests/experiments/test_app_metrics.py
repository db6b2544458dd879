"""Application metrics registered with a direction: the service, the API and the admin form."""

import pytest
from django.urls import reverse

from promptlib.core.errors import DomainError
from promptlib.experiments.app_metrics import application_metric_register
from promptlib.experiments.models import ApplicationMetric, OutcomeEvent

API = "/api/v1/metrics"
ADD = reverse("admin:promptlib_applicationmetric_add")


def test_registering_again_changes_the_metric(acme):
    application_metric_register(project=acme, name="complaint", label="Complaints", direction="higher")
    application_metric_register(project=acme, name="complaint", label="Complaints", direction="lower")
    assert ApplicationMetric.objects.get(project=acme, name="complaint").direction == "lower"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "task_success_rate"}, "name"),
        ({"name": "has space"}, "name"),
        ({"label": " "}, "label"),
        ({"direction": "up"}, "direction"),
        ({"minimum_effect": 0.0}, "minimum_effect"),
        ({"minimum_effect": 5.0}, "minimum_effect"),  # a yes/no metric's change is a share below 1
    ],
)
def test_bad_input_is_refused_naming_the_field(acme, fields, field):
    values = {"name": "complaint", "label": "Complaints", "direction": "lower", **fields}
    with pytest.raises(DomainError) as caught:
        application_metric_register(project=acme, **values)
    assert caught.value.field == field
    assert not ApplicationMetric.objects.exists()


def test_the_api_registers_and_lists_metrics(acme, acme_write_key, api_client):
    client = api_client(acme_write_key)
    body = {"name": "order_value", "label": "Order value", "direction": "higher", "kind": "mean", "unit": "USD",
            "minimum_effect": 2}  # fmt: skip
    response = client.post(API, body, format="json")
    assert response.status_code == 201
    listed = client.get(API).json()["results"]
    assert listed == [{**body, "minimum_effect": 2.0}]


def test_the_api_answers_400_naming_the_field(acme, acme_write_key, api_client):
    response = api_client(acme_write_key).post(
        API, {"name": "complaint", "label": "Complaints", "direction": "sideways"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "direction"


def test_a_read_key_cannot_register(acme, acme_read_key, api_client):
    response = api_client(acme_read_key).post(
        API, {"name": "complaint", "label": "Complaints", "direction": "lower"}, format="json"
    )
    assert response.status_code == 403
    assert not ApplicationMetric.objects.exists()


def test_the_admin_form_offers_reported_names_and_registers(acme, bob, client, wording_experiment):
    OutcomeEvent.objects.create(
        project=acme, experiment=wording_experiment, variant=wording_experiment.variants.first(), subject="u1",
        metric="complaint", value=1.0, is_boolean=True, event_id="e1",
    )  # fmt: skip
    client.force_login(bob)
    page = client.get(ADD).content.decode()
    assert '<option value="complaint">' in page and "Lower is better" in page
    response = client.post(
        ADD,
        {"project": acme.pk, "name": "complaint", "label": "Complaints", "direction": "lower", "kind": "rate"},
    )
    assert response.status_code == 302
    assert ApplicationMetric.objects.get(name="complaint").direction == "lower"


def test_the_admin_form_shows_a_refusal_on_its_field(acme, bob, client):
    client.force_login(bob)
    response = client.post(
        ADD, {"project": acme.pk, "name": "task_success_rate", "label": "x", "direction": "lower", "kind": "rate"}
    )
    assert response.status_code == 200
    assert "built-in metric" in response.content.decode()
    assert not ApplicationMetric.objects.exists()
