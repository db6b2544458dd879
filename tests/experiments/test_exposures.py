"""Exposures counted on render (Redis HyperLogLog + INCR, or the in-process fallback) and flushed."""

import pytest
from django.utils import timezone

from promptlib.experiments import exposures
from promptlib.experiments.models import ExposureCount
from promptlib.prompts.services import label_move
from promptlib.tasks import exposures_flush_task

URL = "/api/v1/templates/welcome-email/render"


@pytest.fixture
def published(welcome):
    label_move(template=welcome, name="production", version=welcome.versions.get(number=1))
    return welcome


def _render(client, subject):
    response = client.post(URL, {"variables": {"name": "Ann"}, "subject": subject}, format="json")
    assert response.status_code == 200
    return response.json()["experiment"]["variant"]["key"]


def _totals(experiment):
    rows = ExposureCount.objects.filter(experiment=experiment)
    total = {r.variant.key: r.subjects for r in rows if r.day is None}
    renders = {r.variant.key: r.renders for r in rows if r.day is not None}
    return total, renders


def _render_users(client, users, *, twice=()):
    seen = {}
    for i in range(users):
        seen[f"user-{i}"] = _render(client, f"user-{i}")
    for subject in twice:
        _render(client, subject)
    expected_users = {key: sum(1 for v in seen.values() if v == key) for key in set(seen.values())}
    expected_renders = dict(expected_users)
    for subject in twice:
        expected_renders[seen[subject]] += 1
    return expected_users, expected_renders


def test_renders_and_users_are_counted_per_variant_once_flushed(
    published, welcome_experiment, acme_read_key, api_client
):
    client = api_client(acme_read_key)
    users, renders = _render_users(client, 40, twice=("user-1", "user-2", "user-3"))
    assert not ExposureCount.objects.exists()  # nothing is written on the render path (with Redis)…
    exposures_flush_task()
    total, counted = _totals(welcome_experiment)
    assert counted == renders
    for key, n in users.items():
        assert abs(total[key] - n) <= 1  # a HyperLogLog is exact to about one at this size
    day_rows = ExposureCount.objects.filter(experiment=welcome_experiment, day=timezone.now().date())
    assert day_rows.count() == len(users)


def test_a_second_flush_writes_the_same_counts(published, welcome_experiment, acme_read_key, api_client):
    client = api_client(acme_read_key)
    _render_users(client, 10)
    exposures_flush_task()
    first = _totals(welcome_experiment)
    exposures_flush_task()
    assert _totals(welcome_experiment) == first


def test_without_redis_the_counts_are_exact_and_written_in_bulk(
    published, welcome_experiment, acme_read_key, api_client, monkeypatch
):
    monkeypatch.setattr(exposures, "_redis", lambda: None)
    client = api_client(acme_read_key)
    users, renders = _render_users(client, 25, twice=("user-4",))
    assert not ExposureCount.objects.exists()
    exposures.exposures_flush()
    total, counted = _totals(welcome_experiment)
    assert total == users and counted == renders
    assert all(row.exact for row in ExposureCount.objects.all())


def test_without_redis_a_full_buffer_is_written_by_the_render_that_fills_it(
    published, welcome_experiment, acme_read_key, api_client, monkeypatch
):
    monkeypatch.setattr(exposures, "_redis", lambda: None)
    monkeypatch.setattr(exposures, "BUFFER_MAX", 5)
    client = api_client(acme_read_key)
    _render_users(client, 5)
    assert sum(_totals(welcome_experiment)[1].values()) == 5


def test_renders_without_a_subject_count_nothing(published, welcome_experiment, acme_read_key, api_client):
    api_client(acme_read_key).post(URL, {"variables": {"name": "Ann"}}, format="json")
    exposures_flush_task()
    assert not ExposureCount.objects.exists()
