"""Exposures counted on render (Redis HyperLogLog + INCR, or the in-process fallback) and flushed."""

import contextlib
import threading
import time
import uuid

import pytest
import redis
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


# --- with Redis: the round trip leaves the request path --------------------------------------------


class _Watched:
    """A Redis client that notes which thread opens each pipeline, and can refuse the first few."""

    def __init__(self, client, *, refusals=0):
        self.client, self.threads, self.refusals = client, [], refusals

    def pipeline(self, **options):
        self.threads.append(threading.current_thread().name)
        pipe = self.client.pipeline(**options)
        if self.refusals:
            self.refusals -= 1
            pipe.execute = lambda: (_ for _ in ()).throw(redis.ConnectionError("Redis is restarting"))
        return pipe

    def __getattr__(self, name):
        return getattr(self.client, name)


@pytest.fixture
def own_redis(monkeypatch, settings):
    """The exposures code on a real Redis under keys of its own, whether or not the suite runs with Redis."""
    client = redis.Redis.from_url(settings.REDIS_URL or "redis://127.0.0.1:6379/0", socket_connect_timeout=1)
    prefix = f"promptlib-test-exposures:{uuid.uuid4().hex}"
    monkeypatch.setattr(exposures, "_INDEX", f"{prefix}:index")
    monkeypatch.setattr(exposures, "_key", lambda e, v, d, what: f"{prefix}:{e}:{v}:{d}:{what}")
    exposures._sender.send()  # nothing of another test's left in this process's buffer
    yield client, prefix
    client.delete(*(client.keys(f"*{prefix}*") or [prefix]))  # the index carries the cache's prefix


def _redis_renders(client, prefix):
    return sum(int(client.get(k) or 0) for k in client.keys(f"{prefix}:*:renders") if b":all:" not in k)


def test_a_render_waits_on_no_redis_round_trip_and_its_counts_arrive_within_a_second(
    own_redis, monkeypatch, published, welcome_experiment, acme_read_key, api_client
):
    client, prefix = own_redis
    watched = _Watched(client)
    monkeypatch.setattr(exposures, "_redis", lambda: watched)
    _, renders = _render_users(api_client(acme_read_key), 30, twice=("user-7",))
    assert threading.current_thread().name not in watched.threads  # no pipeline opened by a render
    deadline = time.monotonic() + 3
    while _redis_renders(client, prefix) < 31 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _redis_renders(client, prefix) == sum(renders.values()) == 31  # sent by the background thread
    assert set(watched.threads) == {"exposures-sender"}


def test_counts_redis_did_not_take_are_sent_on_the_next_try(
    own_redis, monkeypatch, published, welcome_experiment, acme_read_key, api_client
):
    client, _ = own_redis
    watched = _Watched(client, refusals=1)
    monkeypatch.setattr(exposures, "FLUSH_SECONDS", 3600.0)  # only this test's explicit sends
    monkeypatch.setattr(exposures, "_redis", lambda: watched)
    users, renders = _render_users(api_client(acme_read_key), 20, twice=("user-2",))
    # The refusal meets whichever send comes first: this one, or the background thread's (already asleep
    # for its old 0.1 s when FLUSH_SECONDS was patched, so it may wake once more).
    with contextlib.suppress(redis.ConnectionError):
        exposures._sender.send()
    deadline = time.monotonic() + 5
    while watched.refusals and time.monotonic() < deadline:
        time.sleep(0.05)
    assert watched.refusals == 0
    time.sleep(0.2)  # a refused send puts the counts back right after its pipeline fails
    exposures.exposures_flush()
    total, counted = _totals(welcome_experiment)
    assert counted == renders
    assert all(abs(total[key] - n) <= 1 for key, n in users.items())
