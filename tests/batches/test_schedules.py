"""Schedules in words: timings and time zones, pause and resume, stopping when the experiment ends."""

from datetime import time

import pytest

from promptlib.batches.models import Batch
from promptlib.batches.schedules import (
    ScheduleTiming,
    batch_schedule_create,
    batch_schedule_pause,
    batch_schedule_resume,
    batch_schedule_state,
    batch_schedule_update,
    scheduled_batch_start,
)
from promptlib.batches.services import BatchError, BatchSettings
from promptlib.experiments.models import Experiment

pytestmark = pytest.mark.django_db


@pytest.fixture
def nightly(triage_experiment, tickets):
    timing = ScheduleTiming("daily", time(9, 0), timezone="Europe/Paris")
    settings = BatchSettings(experiment=triage_experiment, dataset=tickets)
    return batch_schedule_create(name="Nightly triage", settings=settings, timing=timing)


@pytest.mark.parametrize(
    ("timing", "cron", "words"),
    [
        (ScheduleTiming("daily", time(9, 0)), "0 9 * * *", "Every day at 09:00 (UTC)"),
        (ScheduleTiming("weekdays", time(7, 30)), "30 7 * * 1-5", "Every weekday at 07:30 (UTC)"),
        (ScheduleTiming("weekly", time(9, 0), weekday=1), "0 9 * * 1", "Every Monday at 09:00 (UTC)"),
        (ScheduleTiming("weekly", time(18, 0), weekday=0), "0 18 * * 0", "Every Sunday at 18:00 (UTC)"),
        (ScheduleTiming("hourly", time(0, 15)), "15 * * * *", "Every hour at minute 15 (UTC)"),
    ],
)
def test_a_timing_becomes_cron_and_reads_back_in_words(timing, cron, words):
    assert timing.cron() == cron
    assert timing.describe() == words


def test_a_saved_schedule_keeps_its_time_zone_and_reads_back_its_timing(nightly):
    crontab = nightly.periodic_task.crontab
    assert (crontab.hour, crontab.minute, str(crontab.timezone)) == ("9", "0", "Europe/Paris")
    state = batch_schedule_state(schedule=nightly)
    assert state.timing == ScheduleTiming("daily", time(9, 0), timezone="Europe/Paris")
    assert state.when == "Every day at 09:00 (Europe/Paris)" and state.text == "Running"


def test_the_next_run_is_at_the_chosen_local_time(nightly):
    import zoneinfo

    next_run = batch_schedule_state(schedule=nightly).next_run.astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
    assert (next_run.hour, next_run.minute) == (9, 0)


def test_the_last_run_is_the_latest_batch_it_started(nightly):
    assert batch_schedule_state(schedule=nightly).last_run is None
    batch = scheduled_batch_start(schedule_id=nightly.pk)
    assert batch_schedule_state(schedule=nightly).last_run == Batch.objects.get(pk=batch.pk).created_at


def test_an_unknown_time_zone_is_refused_on_its_field(triage_experiment, tickets):
    settings = BatchSettings(experiment=triage_experiment, dataset=tickets)
    with pytest.raises(BatchError) as caught:
        batch_schedule_create(name="x", settings=settings, timing=ScheduleTiming(timezone="Mars/Olympus"))
    assert caught.value.field == "timezone"


def test_pausing_stops_the_runs_and_resuming_brings_them_back(nightly):
    batch_schedule_pause(schedule=nightly)
    nightly.periodic_task.refresh_from_db()
    state = batch_schedule_state(schedule=nightly)
    assert not nightly.periodic_task.enabled and state.text == "Paused" and state.next_run is None
    batch_schedule_resume(schedule=nightly)
    nightly.periodic_task.refresh_from_db()
    assert nightly.periodic_task.enabled


def test_editing_changes_the_name_and_timing(nightly):
    batch_schedule_update(schedule=nightly, name="Monday check", timing=ScheduleTiming("weekly", time(8, 0), 1))
    nightly.refresh_from_db()
    assert nightly.name == "Monday check"
    assert batch_schedule_state(schedule=nightly).when == "Every Monday at 08:00 (UTC)"


def test_a_run_after_the_experiment_finished_starts_nothing_and_stops_the_schedule(nightly, triage_experiment):
    Experiment.objects.filter(pk=triage_experiment.pk).update(status=Experiment.Status.FINISHED)
    assert scheduled_batch_start(schedule_id=nightly.pk) is None
    assert not Batch.objects.exists()
    nightly.refresh_from_db()
    assert batch_schedule_state(schedule=nightly).text == "Stopped: the experiment has finished"


def test_a_schedule_of_a_finished_experiment_cannot_be_resumed(nightly, triage_experiment):
    batch_schedule_pause(schedule=nightly)
    Experiment.objects.filter(pk=triage_experiment.pk).update(status=Experiment.Status.FINISHED)
    nightly.refresh_from_db()
    with pytest.raises(BatchError, match="experiment has finished"):
        batch_schedule_resume(schedule=nightly)


def test_an_interval_schedule_reads_in_hours_not_seconds(triage_experiment, tickets):
    settings = BatchSettings(experiment=triage_experiment, dataset=tickets)
    schedule = batch_schedule_create(name="often", settings=settings, every_seconds=7200)
    assert batch_schedule_state(schedule=schedule).when == "Every 2 hours"


def test_a_schedule_reads_as_stopped_as_soon_as_its_experiment_finishes(nightly, triage_experiment):
    Experiment.objects.filter(pk=triage_experiment.pk).update(status=Experiment.Status.FINISHED)
    nightly.refresh_from_db()
    state = batch_schedule_state(schedule=nightly)
    assert (state.state, state.next_run) == ("stopped", None)
