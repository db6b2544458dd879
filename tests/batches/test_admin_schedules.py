"""The schedule pages: presets and time zones, not cron; next and last run; pause (confirmed), edit, delete."""

import pytest
from django_celery_beat.models import PeriodicTask

from promptlib.batches.models import BatchSchedule

pytestmark = pytest.mark.django_db
NEW = "/admin/promptlib/batchschedule/new/"


@pytest.fixture
def as_bob(client, bob):
    client.force_login(bob)
    return client


def _new(client, experiment, dataset, **timing):
    data = {"experiment": experiment.pk, "dataset": dataset.pk, "repeats": 1, "name": "Weekly check",
            "repeat": "weekly", "at": "09:00", "weekday": 1, "timezone": "Europe/Paris", **timing}  # fmt: skip
    return client.post(NEW, data)


def test_the_form_offers_presets_and_time_zones_not_cron(as_bob):
    html = as_bob.get(NEW).content.decode()
    assert "Every weekday (Monday to Friday)" in html and "Europe/Paris" in html
    assert "cron" not in html.lower() and "seconds" not in html


def test_an_editor_schedules_a_batch_every_monday_in_their_time_zone(as_bob, triage_experiment, tickets):
    r = _new(as_bob, triage_experiment, tickets)
    assert r.status_code == 302
    crontab = BatchSchedule.objects.get().periodic_task.crontab
    assert (crontab.hour, crontab.day_of_week, str(crontab.timezone)) == ("9", "1", "Europe/Paris")


def test_the_list_shows_when_status_and_next_run(as_bob, triage_experiment, tickets):
    _new(as_bob, triage_experiment, tickets)
    html = as_bob.get("/admin/promptlib/batchschedule/").content.decode()
    assert "Every Monday at 09:00 (Europe/Paris)" in html and "Running" in html and "Mon " in html


def test_pausing_first_asks_then_pauses(as_bob, triage_experiment, tickets):
    _new(as_bob, triage_experiment, tickets)
    schedule = BatchSchedule.objects.get()
    url = f"/admin/promptlib/batchschedule/{schedule.pk}/change/"
    asked = as_bob.post(url, {"action": "pause"})
    assert asked.status_code == 200 and "No batch starts until you resume it" in asked.content.decode()
    assert PeriodicTask.objects.get().enabled
    as_bob.post(url, {"action": "pause", "confirmed": "on"})
    assert not PeriodicTask.objects.get().enabled
    assert "Resume" in as_bob.get(url).content.decode()
    as_bob.post(url, {"action": "resume"})
    assert PeriodicTask.objects.get().enabled


def test_the_schedule_page_edits_the_timing(as_bob, triage_experiment, tickets):
    _new(as_bob, triage_experiment, tickets)
    schedule = BatchSchedule.objects.get()
    url = f"/admin/promptlib/batchschedule/{schedule.pk}/change/"
    r = as_bob.post(url, {"action": "save", "name": "Daily", "repeat": "daily", "at": "07:15", "weekday": 1,
                          "timezone": "UTC"})  # fmt: skip
    assert r.status_code == 302
    assert "Every day at 07:15 (UTC)" in as_bob.get(url).content.decode()


def test_a_viewer_sees_the_schedule_but_cannot_pause_it(client, victor, bob, triage_experiment, tickets):
    client.force_login(bob)
    _new(client, triage_experiment, tickets)
    schedule = BatchSchedule.objects.get()
    client.force_login(victor)
    url = f"/admin/promptlib/batchschedule/{schedule.pk}/change/"
    assert "pause-button" not in client.get(url).content.decode()
    assert client.post(url, {"action": "pause", "confirmed": "on"}).status_code == 403
    assert PeriodicTask.objects.get().enabled


def test_deleting_says_the_past_batches_stay(as_bob, triage_experiment, tickets):
    _new(as_bob, triage_experiment, tickets)
    schedule = BatchSchedule.objects.get()
    html = as_bob.get(f"/admin/promptlib/batchschedule/{schedule.pk}/delete/").content.decode()
    assert "No new batch will start from this schedule" in html
    as_bob.post(f"/admin/promptlib/batchschedule/{schedule.pk}/delete/", {"post": "yes"})
    assert not BatchSchedule.objects.exists() and not PeriodicTask.objects.exists()
