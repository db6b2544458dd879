"""Outcome events: resolved to an experiment variant, stored at most once per (project, event_id)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from promptlib.experiments.assignment import render_id_read, variant_pick
from promptlib.experiments.models import Experiment, OutcomeEvent


@dataclass
class OutcomeReport:
    stored: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


class _InvalidEventError(Exception):
    def __init__(self, field_name: str, code: str, message: str):
        super().__init__(message)
        self.entry = {"field": field_name, "code": code, "message": message}


def _resolve(event: dict[str, Any], *, project_id: int, experiments: dict[int, Experiment]):
    """(experiment, variant, subject) of one validated event, or _InvalidEventError naming the field."""
    if "render_id" in event:
        ref = render_id_read(token=event["render_id"])
        if ref is None or ref.project_id != project_id:
            raise _InvalidEventError("render_id", "invalid", "This is not a render id issued for this project.")
        experiment_id, key, subject = ref.experiment_id, ref.variant, ref.subject
    else:
        experiment_id, key, subject = event["experiment"], event["variant"], event["subject"]
    experiment = experiments.get(experiment_id)
    if experiment is None:
        raise _InvalidEventError(
            "experiment", "not_found", f"Experiment {experiment_id} does not exist in this project."
        )
    if experiment.status == Experiment.Status.DRAFT:
        raise _InvalidEventError("experiment", "not_started", f"Experiment {experiment_id} has not started yet.")
    variants = {v.key: v for v in experiment.variants.all()}
    if key not in variants:
        raise _InvalidEventError("variant", "not_found", f"Experiment {experiment_id} has no variant '{key}'.")
    if "render_id" not in event:
        # Assignment is a pure function, so a claimed variant can be checked against it.
        assigned = variant_pick(
            salt=experiment.salt, subject=subject, weights=[(k, v.weight) for k, v in variants.items()]
        )
        if assigned != key:
            raise _InvalidEventError(
                "variant", "variant_mismatch", f"Subject '{subject}' is assigned to variant '{assigned}', not '{key}'."
            )
    return experiment, variants[key], subject


def outcomes_record(*, project_id: int, events: list[tuple[int, dict[str, Any]]]) -> OutcomeReport:
    """Store validated events given as (index in the request, event); report stored, duplicates and errors.

    A retried event_id is recognised by the unique constraint and skipped, whoever wins a race; the
    rows this call inserted are counted by the timestamp they share.
    """
    report = OutcomeReport()
    ids = set()
    for _, event in events:
        if "render_id" in event:
            ref = render_id_read(token=event["render_id"])
            if ref is not None:
                ids.add(ref.experiment_id)
        else:
            ids.add(event["experiment"])
    experiments = {
        e.pk: e for e in Experiment.objects.filter(project_id=project_id, pk__in=ids).prefetch_related("variants")
    }
    now = timezone.now()
    rows: list[OutcomeEvent] = []
    for index, event in events:
        try:
            experiment, variant, subject = _resolve(event, project_id=project_id, experiments=experiments)
        except _InvalidEventError as exc:
            report.errors.append({"index": index, **exc.entry})
            continue
        value = event["value"]
        rows.append(
            OutcomeEvent(
                project_id=project_id,
                experiment=experiment,
                variant=variant,
                subject=subject,
                metric=event["metric"],
                value=float(value),
                is_boolean=isinstance(value, bool),
                event_id=event["event_id"],
                created_at=now,
            )
        )
    if rows:
        with transaction.atomic():
            OutcomeEvent.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
            report.stored = OutcomeEvent.objects.filter(
                experiment_id__in={row.experiment_id for row in rows}, created_at=now, project_id=project_id
            ).count()
        report.duplicates = len(rows) - report.stored
    return report
