import pytest

from promptlib.experiments.outcomes import outcomes_record


@pytest.fixture
def measured(welcome_experiment):
    from promptlib.experiments.assignment import variant_pick

    events = []
    for i in range(40):
        subject = f"s{i}"
        key = variant_pick(salt=welcome_experiment.salt, subject=subject, weights=[("control", 1), ("short", 1)])
        base = {"experiment": welcome_experiment.pk, "variant": key, "subject": subject}
        events.append({**base, "metric": "converted", "value": i % 2 == 0, "event_id": f"c{i}"})
        events.append({**base, "metric": "cost_usd", "value": 0.5, "event_id": f"k{i}"})
    outcomes_record(project_id=welcome_experiment.project_id, events=list(enumerate(events)))
    return welcome_experiment


def test_the_list_shows_experiments_with_variants(measured, acme_read_key, api_client):
    body = api_client(acme_read_key).get("/api/v1/experiments").json()
    assert body["count"] == 1
    experiment = body["results"][0]
    assert (experiment["name"], experiment["status"], experiment["template"]) == (
        "Shorter welcome",
        "running",
        "welcome-email",
    )
    assert [(v["key"], v["version"], v["is_control"]) for v in experiment["variants"]] == [
        ("control", 1, True),
        ("short", 2, False),
    ]


def test_the_list_filters_by_status(measured, acme_read_key, api_client):
    assert api_client(acme_read_key).get("/api/v1/experiments?status=draft").json()["count"] == 0
    assert api_client(acme_read_key).get("/api/v1/experiments?status=running").json()["count"] == 1


def test_an_unknown_status_filter_is_a_400(measured, acme_read_key, api_client):
    response = api_client(acme_read_key).get("/api/v1/experiments?status=flying")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "status"


def test_the_detail_counts_subjects_and_events_per_variant_and_metric(measured, acme_read_key, api_client):
    body = api_client(acme_read_key).get(f"/api/v1/experiments/{measured.pk}").json()
    variants = {v["key"]: v for v in body["variants"]}
    assert variants["control"]["subjects"] + variants["short"]["subjects"] == 40
    for variant in variants.values():
        converted = variant["metrics"]["converted"]
        assert converted["events"] == converted["subjects"] == variant["subjects"]
        assert variant["metrics"]["cost_usd"]["sum"] == pytest.approx(0.5 * variant["subjects"])
    assert sum(v["metrics"]["converted"]["sum"] for v in variants.values()) == 20


def test_a_variant_without_outcomes_shows_zero(welcome_experiment, acme_read_key, api_client):
    body = api_client(acme_read_key).get(f"/api/v1/experiments/{welcome_experiment.pk}").json()
    assert [(v["subjects"], v["metrics"]) for v in body["variants"]] == [(0, {}), (0, {})]


def test_an_unknown_experiment_is_a_404(acme, acme_read_key, api_client):
    assert api_client(acme_read_key).get("/api/v1/experiments/424242").status_code == 404
