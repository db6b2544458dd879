import pytest

from promptlib.experiments.assignment import variant_pick
from promptlib.experiments.models import OutcomeEvent
from promptlib.prompts.services import label_move

URL = "/api/v1/outcomes"


@pytest.fixture
def running(welcome, welcome_experiment):
    label_move(template=welcome, name="production", version=welcome.versions.get(number=1))
    return welcome_experiment


def _assigned(experiment, subject):
    return variant_pick(salt=experiment.salt, subject=subject, weights=[("control", 1), ("short", 1)])


def _event(experiment, subject="s1", **overrides):
    event = {
        "experiment": experiment.pk,
        "variant": _assigned(experiment, subject),
        "subject": subject,
        "metric": "converted",
        "value": True,
        "event_id": f"evt-{subject}",
    }
    return {**event, **overrides}


def test_an_outcome_refers_to_a_render_id(running, acme_read_key, api_client):
    client = api_client(acme_read_key)
    render = client.post(
        "/api/v1/templates/welcome-email/render", {"variables": {"name": "A"}, "subject": "u7"}, format="json"
    ).json()
    response = client.post(
        URL, {"render_id": render["render_id"], "metric": "converted", "value": True, "event_id": "e1"}, format="json"
    )
    assert response.json() == {"stored": 1, "duplicates": 0, "errors": []}
    stored = OutcomeEvent.objects.get()
    assert (stored.subject, stored.variant.key, stored.value, stored.is_boolean) == (
        "u7",
        render["experiment"]["variant"]["key"],
        1.0,
        True,
    )


def test_an_outcome_refers_to_experiment_variant_and_subject(running, acme_read_key, api_client):
    response = api_client(acme_read_key).post(URL, _event(running, value=12.5), format="json")
    assert response.json()["stored"] == 1
    stored = OutcomeEvent.objects.get()
    assert (stored.value, stored.is_boolean, stored.metric) == (12.5, False, "converted")


def test_a_retried_event_is_never_counted_twice(running, acme_read_key, api_client):
    client = api_client(acme_read_key)
    first = client.post(URL, _event(running), format="json").json()
    retries = [client.post(URL, _event(running), format="json").json() for _ in range(3)]
    assert first == {"stored": 1, "duplicates": 0, "errors": []}
    assert all(r == {"stored": 0, "duplicates": 1, "errors": []} for r in retries)
    assert OutcomeEvent.objects.count() == 1


def test_a_retried_batch_stores_only_what_is_new(running, acme_read_key, api_client):
    client = api_client(acme_read_key)
    client.post(URL, {"events": [_event(running, "a"), _event(running, "b")]}, format="json")
    again = client.post(URL, {"events": [_event(running, s) for s in ("a", "b", "c")]}, format="json").json()
    assert (again["stored"], again["duplicates"]) == (1, 2)
    assert OutcomeEvent.objects.count() == 3


def test_the_same_event_id_twice_in_one_batch_counts_once(running, acme_read_key, api_client):
    events = [_event(running, "a"), _event(running, "a", value=False)]
    body = api_client(acme_read_key).post(URL, {"events": events}, format="json").json()
    assert (body["stored"], body["duplicates"]) == (1, 1)


def test_a_batch_stores_valid_events_and_reports_invalid_ones_by_index(running, acme_read_key, api_client):
    events = [
        _event(running, "a"),
        _event(running, "b", value="yes"),
        _event(running, "c"),
        _event(running, "d", variant="nope"),
        {"metric": "x", "value": 1, "event_id": "lonely"},
    ]
    body = api_client(acme_read_key).post(URL, {"events": events}, format="json").json()
    assert body["stored"] == 2
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (1, "value"),
        (3, "variant"),
        (4, "experiment"),
        (4, "variant"),
        (4, "subject"),
    ]
    assert set(OutcomeEvent.objects.values_list("subject", flat=True)) == {"a", "c"}


def test_a_single_invalid_event_is_a_400(running, acme_read_key, api_client):
    response = api_client(acme_read_key).post(URL, _event(running, metric="has space"), format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "metric"


def test_a_claimed_variant_must_match_the_assignment(running, acme_read_key, api_client):
    wrong = "short" if _assigned(running, "s1") == "control" else "control"
    response = api_client(acme_read_key).post(URL, _event(running, variant=wrong), format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "variant_mismatch"


def test_a_forged_render_id_is_refused(running, acme_read_key, api_client):
    response = api_client(acme_read_key).post(
        URL, {"render_id": "abc:def", "metric": "m", "value": 1, "event_id": "e"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "field": "render_id",
        "code": "invalid",
        "message": "This is not a render id issued for this project.",
    }


def test_a_draft_experiment_takes_no_outcomes(welcome, welcome_v2, acme_read_key, api_client):
    from promptlib.experiments.services import VariantSpec, experiment_create

    draft = experiment_create(
        template=welcome,
        name="d",
        variants=[
            VariantSpec(key="control", version=welcome.versions.get(number=1), is_control=True),
            VariantSpec(key="short", version=welcome_v2),
        ],
    )
    response = api_client(acme_read_key).post(URL, _event(draft), format="json")
    assert response.json()["errors"][0]["code"] == "not_started"


def test_more_than_1000_events_are_refused(running, acme_read_key, api_client):
    events = [_event(running, f"s{i}") for i in range(1001)]
    response = api_client(acme_read_key).post(URL, {"events": events}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "events"
    assert not OutcomeEvent.objects.exists()


def test_a_batch_of_1000_is_stored(running, acme_read_key, api_client):
    events = [_event(running, f"s{i}") for i in range(1000)]
    body = api_client(acme_read_key).post(URL, {"events": events}, format="json").json()
    assert (body["stored"], body["errors"]) == (1000, [])


@pytest.mark.parametrize("value", [float("nan"), "1", None, [1]])
def test_a_value_that_is_not_a_boolean_or_finite_number_is_refused(value, running, acme_read_key, api_client):
    import json

    body = json.dumps({**_event(running), "value": value}, allow_nan=True)
    response = api_client(acme_read_key).post(URL, body, content_type="application/json")
    assert response.status_code == 400
