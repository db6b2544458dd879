"""Scheduled batches: a BatchSchedule plus a django-celery-beat PeriodicTask that starts a new Batch per run."""

from __future__ import annotations

import json

from celery.schedules import crontab
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from promptlib.batches.models import Batch, BatchSchedule
from promptlib.batches.services import BatchError, BatchSettings, batch_create, batch_settings_validate, batch_start

TASK_NAME = "promptlib.tasks.scheduled_batch_run"
MIN_INTERVAL_SECONDS = 60


def _crontab_for(cron: str) -> CrontabSchedule:
    parts = (cron or "").split()
    if len(parts) != 5:
        raise BatchError(
            "Write the schedule as five cron fields: minute hour day-of-month month day-of-week, e.g. '0 6 * * 1'.",
            field="cron",
        )
    minute, hour, day_of_month, month_of_year, day_of_week = parts
    try:
        crontab(
            minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year, day_of_week=day_of_week
        )
    except (ValueError, TypeError) as exc:
        raise BatchError(f"The cron schedule is not valid: {exc}", field="cron") from exc
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year, day_of_week=day_of_week,
        timezone="UTC",
    )  # fmt: skip
    return schedule


def _interval_for(every_seconds: int, *, minimum: int) -> IntervalSchedule:
    if not isinstance(every_seconds, int) or isinstance(every_seconds, bool) or every_seconds < minimum:
        raise BatchError(f"The interval must be a whole number of seconds, at least {minimum}.", field="every_seconds")
    schedule, _ = IntervalSchedule.objects.get_or_create(every=every_seconds, period=IntervalSchedule.SECONDS)
    return schedule


@transaction.atomic
def batch_schedule_create(
    *,
    name: str,
    settings: BatchSettings,
    cron: str = "",
    every_seconds: int | None = None,
    created_by=None,
    min_interval_seconds: int = MIN_INTERVAL_SECONDS,
) -> BatchSchedule:
    """Run this batch on a cron schedule or every N seconds; exactly one of cron and every_seconds."""
    if bool(cron) == (every_seconds is not None):
        raise BatchError("Give either a cron schedule or an interval in seconds, not both or neither.", field="cron")
    if not (name or "").strip():
        raise BatchError("Give the schedule a name.", field="name")
    batch_settings_validate(settings=settings)
    schedule = BatchSchedule.objects.create(
        name=name.strip(),
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
    timing = (
        {"crontab": _crontab_for(cron)}
        if cron
        else {"interval": _interval_for(every_seconds, minimum=min_interval_seconds)}
    )
    schedule.periodic_task = PeriodicTask.objects.create(
        name=f"promptlib batch schedule {schedule.pk}: {schedule.name}"[:200],
        task=TASK_NAME,
        kwargs=json.dumps({"schedule_id": schedule.pk}),
        **timing,
    )
    schedule.save(update_fields=["periodic_task"])
    return schedule


@transaction.atomic
def batch_schedule_delete(*, schedule: BatchSchedule) -> None:
    """Stop the schedule; the batches it started stay."""
    if schedule.periodic_task_id:
        PeriodicTask.objects.filter(pk=schedule.periodic_task_id).delete()
    schedule.delete()


def scheduled_batch_start(*, schedule_id: int) -> Batch | None:
    """One scheduled run: a new Batch linked to its schedule, started now. None if the schedule is gone."""
    schedule = BatchSchedule.objects.select_related("experiment", "dataset", "provider").filter(pk=schedule_id).first()
    if schedule is None:
        return None
    batch = batch_create(
        settings=BatchSettings.of(schedule),
        created_by=schedule.created_by,
        schedule=schedule,
    )
    return batch_start(batch=batch)
