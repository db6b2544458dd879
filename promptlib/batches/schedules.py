"""Scheduled batches: a BatchSchedule plus a django-celery-beat PeriodicTask that starts a new Batch per run.

People pick a timing (every day at 09:00 in their time zone, every Monday…), never cron. A schedule is
paused and resumed through its task's `enabled` flag, and stops by itself once its experiment has
finished (promoted or ended): a finished experiment has nothing left to test.
"""

from __future__ import annotations

import json
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from celery.schedules import crontab
from django.db import transaction
from django.utils import timezone as dj_timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from promptlib.batches.models import Batch, BatchSchedule
from promptlib.batches.services import BatchError, BatchSettings, batch_create, batch_settings_validate, batch_start
from promptlib.experiments.models import Experiment

TASK_NAME = "promptlib.tasks.scheduled_batch_run"
MIN_INTERVAL_SECONDS = 60

REPEATS = {
    "daily": "Every day",
    "weekdays": "Every weekday (Monday to Friday)",
    "weekly": "Every week",
    "hourly": "Every hour",
}
# Celery's day-of-week numbers (0 = Sunday), listed from Monday.
WEEKDAYS = ((1, "Monday"), (2, "Tuesday"), (3, "Wednesday"), (4, "Thursday"), (5, "Friday"), (6, "Saturday"),
            (0, "Sunday"))  # fmt: skip
_DAY_NAME = dict(WEEKDAYS)


@dataclass(frozen=True)
class ScheduleTiming:
    """When a schedule runs, as a person says it: a repeat, a time of day, a weekday and a time zone."""

    repeat: str = "daily"
    at: time = time(9, 0)
    weekday: int = 1  # for "weekly"; 0 = Sunday
    timezone: str = "UTC"

    def cron(self) -> str:
        """The five cron fields (minute hour day month weekday) in the schedule's time zone."""
        if self.repeat not in REPEATS:
            raise BatchError(f"Choose how often: {', '.join(REPEATS.values())}.", field="repeat")
        if self.repeat == "weekly" and self.weekday not in _DAY_NAME:
            raise BatchError("Choose the day of the week.", field="weekday")
        minute, hour = self.at.minute, self.at.hour
        return {
            "hourly": f"{minute} * * * *",
            "daily": f"{minute} {hour} * * *",
            "weekdays": f"{minute} {hour} * * 1-5",
            "weekly": f"{minute} {hour} * * {self.weekday}",
        }[self.repeat]

    def describe(self) -> str:
        """ "Every Monday at 09:00 (Europe/Paris)"."""
        clock = self.at.strftime("%H:%M")
        text = {
            "hourly": f"Every hour at minute {self.at.minute:02d}",
            "daily": f"Every day at {clock}",
            "weekdays": f"Every weekday at {clock}",
            "weekly": f"Every {_DAY_NAME.get(self.weekday, '?')} at {clock}",
        }[self.repeat]
        return f"{text} ({self.timezone})"

    @classmethod
    def of(cls, schedule: CrontabSchedule) -> ScheduleTiming | None:
        """The timing a crontab row was made from; None for one these words cannot say."""
        fields = (schedule.minute, schedule.hour, schedule.day_of_month, schedule.month_of_year, schedule.day_of_week)
        if not fields[0].isdigit() or fields[2:4] != ("*", "*"):
            return None
        tz = str(schedule.timezone)
        hour, dow = fields[1], fields[4]
        if hour == "*" and dow == "*":
            return cls("hourly", time(0, int(fields[0])), timezone=tz)
        if not hour.isdigit():
            return None
        at = time(int(hour), int(fields[0]))
        if dow == "*":
            return cls("daily", at, timezone=tz)
        if dow == "1-5":
            return cls("weekdays", at, timezone=tz)
        if dow.isdigit() and int(dow) in _DAY_NAME:
            return cls("weekly", at, int(dow), timezone=tz)
        return None


def _zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise BatchError(f"Unknown time zone '{name}'; pick one from the list.", field="timezone") from None
    return name


def _crontab_for(cron: str, *, tz: str = "UTC") -> CrontabSchedule:
    parts = (cron or "").split()
    if len(parts) != 5:
        raise BatchError("A schedule's timing needs five cron fields.", field="repeat")
    minute, hour, day_of_month, month_of_year, day_of_week = parts
    try:
        crontab(
            minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year, day_of_week=day_of_week
        )
    except (ValueError, TypeError) as exc:
        raise BatchError(f"The timing is not valid: {exc}", field="repeat") from exc
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year, day_of_week=day_of_week,
        timezone=_zone(tz),
    )  # fmt: skip
    return schedule


def _interval_for(every_seconds: int, *, minimum: int) -> IntervalSchedule:
    if not isinstance(every_seconds, int) or isinstance(every_seconds, bool) or every_seconds < minimum:
        raise BatchError(f"The interval must be a whole number of seconds, at least {minimum}.", field="every_seconds")
    schedule, _ = IntervalSchedule.objects.get_or_create(every=every_seconds, period=IntervalSchedule.SECONDS)
    return schedule


def _name(name: str) -> str:
    if not (name or "").strip():
        raise BatchError("Give the schedule a name.", field="name")
    return name.strip()


@transaction.atomic
def batch_schedule_create(
    *,
    name: str,
    settings: BatchSettings,
    timing: ScheduleTiming | None = None,
    every_seconds: int | None = None,
    created_by=None,
    min_interval_seconds: int = MIN_INTERVAL_SECONDS,
) -> BatchSchedule:
    """Run this batch at a timing (every day at 09:00…) or every N seconds; exactly one of the two."""
    if (timing is None) == (every_seconds is None):
        raise BatchError("Choose when the schedule runs.", field="repeat")
    name = _name(name)
    batch_settings_validate(settings=settings)
    if settings.experiment.status == Experiment.Status.FINISHED:
        raise BatchError("The experiment has finished; there is nothing left to test.", field="experiment")
    schedule = BatchSchedule.objects.create(
        name=name,
        project_id=settings.experiment.project_id,
        experiment=settings.experiment,
        dataset=settings.dataset,
        provider=settings.provider,
        model=settings.model,
        repeats=settings.repeats,
        tags=list(settings.tags),
        use_cache=settings.use_cache,
        created_by=created_by if created_by is not None and created_by.is_authenticated else None,
    )
    when = (
        {"crontab": _crontab_for(timing.cron(), tz=timing.timezone)}
        if timing is not None
        else {"interval": _interval_for(every_seconds, minimum=min_interval_seconds)}
    )
    schedule.periodic_task = PeriodicTask.objects.create(
        name=f"promptlib batch schedule {schedule.pk}: {schedule.name}"[:200],
        task=TASK_NAME,
        kwargs=json.dumps({"schedule_id": schedule.pk}),
        **when,
    )
    schedule.save(update_fields=["periodic_task"])
    return schedule


@transaction.atomic
def batch_schedule_update(*, schedule: BatchSchedule, name: str, timing: ScheduleTiming) -> BatchSchedule:
    """Rename the schedule and change when it runs (its test run stays the same)."""
    schedule.name = _name(name)
    schedule.save(update_fields=["name"])
    task = schedule.periodic_task
    if task is not None:
        task.crontab, task.interval = _crontab_for(timing.cron(), tz=timing.timezone), None
        task.save(update_fields=["crontab", "interval"])
    return schedule


def _set_enabled(schedule: BatchSchedule, enabled: bool) -> None:
    if schedule.periodic_task_id is None:
        raise BatchError("This schedule has no timing any more; delete it and make a new one.", field="schedule")
    # PeriodicTask.save() tells celery beat that its schedule changed; .update() would not.
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    if task.enabled != enabled:
        task.enabled = enabled
        task.save(update_fields=["enabled"])


def batch_schedule_pause(*, schedule: BatchSchedule) -> None:
    _set_enabled(schedule, False)


def batch_schedule_resume(*, schedule: BatchSchedule) -> None:
    if schedule.experiment.status == Experiment.Status.FINISHED:
        raise BatchError(
            "The experiment has finished, so this schedule stays stopped; start a new experiment to test again.",
            field="schedule",
        )
    _set_enabled(schedule, True)


def batch_schedules_stop(*, experiment: Experiment) -> int:
    """Stop every schedule of an experiment that has ended; returns how many were running."""
    stopped = 0
    for schedule in BatchSchedule.objects.filter(experiment=experiment, periodic_task__enabled=True):
        _set_enabled(schedule, False)
        stopped += 1
    return stopped


@transaction.atomic
def batch_schedule_delete(*, schedule: BatchSchedule) -> None:
    """Stop the schedule; the batches it started stay."""
    if schedule.periodic_task_id:
        PeriodicTask.objects.filter(pk=schedule.periodic_task_id).delete()
    schedule.delete()


def scheduled_batch_start(*, schedule_id: int) -> Batch | None:
    """One scheduled run: a new Batch linked to its schedule, started now.

    None if the schedule is gone, or its experiment has finished (the schedule is then stopped).
    """
    schedule = BatchSchedule.objects.select_related("experiment", "dataset", "provider").filter(pk=schedule_id).first()
    if schedule is None:
        return None
    if schedule.experiment.status == Experiment.Status.FINISHED:
        batch_schedules_stop(experiment=schedule.experiment)
        return None
    batch = batch_create(
        settings=BatchSettings.of(schedule),
        created_by=schedule.created_by,
        schedule=schedule,
    )
    return batch_start(batch=batch)


# --- what the schedule pages show ----------------------------------------------------------------


def _every(interval: IntervalSchedule) -> str:
    """ "Every 2 hours" for an interval (schedules made through code rather than the form)."""
    seconds = interval.every * {"days": 86400, "hours": 3600, "minutes": 60}.get(interval.period, 1)
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds % size == 0:
            count = seconds // size
            return f"Every {unit}" if count == 1 else f"Every {count} {unit}s"
    return f"Every {seconds} seconds"


@dataclass(frozen=True)
class ScheduleState:
    state: str  # "running", "paused", "stopped"
    text: str  # "Paused", "Stopped: the experiment has finished", …
    when: str  # "Every day at 09:00 (Europe/Paris)"
    next_run: datetime | None
    last_run: datetime | None
    timing: ScheduleTiming | None


def batch_schedule_state(*, schedule: BatchSchedule, now: datetime | None = None) -> ScheduleState:
    """Whether it runs, when, and when it ran last and runs next (None when it will not)."""
    now = now or dj_timezone.now()
    last = schedule.runs.order_by("-created_at").values_list("created_at", flat=True).first()
    task = schedule.periodic_task
    if task is None:
        return ScheduleState("stopped", "Stopped", "—", None, last, None)
    timing = ScheduleTiming.of(task.crontab) if task.crontab_id else None
    if timing is not None:
        when = timing.describe()
    elif task.interval_id:
        when = _every(task.interval)
    else:
        when = str(task.crontab)
    # A finished experiment's schedule starts nothing more, even before its next tick turns it off.
    if schedule.experiment.status == Experiment.Status.FINISHED:
        return ScheduleState("stopped", "Stopped: the experiment has finished", when, None, last, timing)
    if not task.enabled:
        return ScheduleState("paused", "Paused", when, None, last, timing)
    schedule_rule = (task.crontab or task.interval).schedule
    next_run = now + schedule_rule.remaining_estimate(task.last_run_at or now)
    if task.crontab_id:  # cron runs fall on whole minutes; the estimate is off by its own clock's reading
        next_run = (next_run + timedelta(seconds=30)).replace(second=0, microsecond=0)
    return ScheduleState("running", "Running", when, max(next_run, now), last, timing)
