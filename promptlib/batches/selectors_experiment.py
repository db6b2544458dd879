"""Reads for the experiment admin page: its batches, schedules and scorers, and the metric names in use."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from promptlib.batches.models import Batch, BatchSchedule, ScorerConfig
from promptlib.batches.schedules import ScheduleState, batch_schedule_state
from promptlib.experiments.models import Experiment, OutcomeEvent

RECENT_BATCHES = 10
MAX_METRIC_NAMES = 40


@dataclass(frozen=True)
class ExperimentRelated:
    batches: list[Batch]  # the most recent ones
    batch_total: int
    schedules: list[tuple[BatchSchedule, ScheduleState]]
    scorers: list[ScorerConfig]


def experiment_related(*, experiment: Experiment, recent: int = RECENT_BATCHES) -> ExperimentRelated:
    batches = Batch.objects.filter(experiment=experiment).select_related("dataset").order_by("-created_at", "-id")
    return ExperimentRelated(
        batches=list(batches[:recent]),
        batch_total=batches.count(),
        schedules=[
            (schedule, batch_schedule_state(schedule=schedule))
            for schedule in BatchSchedule.objects.filter(experiment=experiment)
            .select_related("experiment", "dataset", "periodic_task__crontab", "periodic_task__interval")
            .order_by("-created_at")
        ],
        scorers=list(ScorerConfig.objects.filter(experiment=experiment).order_by("order", "id")),
    )


def outcome_metric_names(*, project_ids: list[int] | QuerySet) -> list[str]:
    """Metric names applications have reported through /api/v1/outcomes in these projects."""
    names = (
        OutcomeEvent.objects.filter(project_id__in=project_ids)
        .order_by("metric")
        .values_list("metric", flat=True)
        .distinct()
    )
    return list(names[:MAX_METRIC_NAMES])
