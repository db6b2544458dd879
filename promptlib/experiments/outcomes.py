"""Outcome events: resolved to an experiment variant, stored at most once per (project, event_id).

The events stored by a call are also added to the per-subject and per-day sums the production
report reads (OutcomeSubjectSum, OutcomeDaySum), in the same transaction, so the report never
scans the events themselves. outcome_sums_rebuild recomputes both from the events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from promptlib.experiments.assignment import render_id_read, variant_pick
from promptlib.experiments.models import Experiment, OutcomeDaySum, OutcomeEvent, OutcomeSubjectSum


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
            stored = OutcomeEvent.objects.filter(
                experiment_id__in={row.experiment_id for row in rows}, created_at=now, project_id=project_id
            )
            report.stored = _sums_add(stored, day=now.date())
        report.duplicates = len(rows) - report.stored
    return report


def _per_subject(events):
    return (
        events.values("experiment_id", "variant_id", "metric", "subject")
        .annotate(n=Count("id"), t=Sum("value"), b=Count("id", filter=Q(is_boolean=True)))
        .order_by("variant_id", "metric", "subject")  # one lock order for concurrent upserts
    )


_UPSERT = """
INSERT INTO {table} (experiment_id, variant_id, metric, {key}, events, total{booleans_column})
VALUES (%s, %s, %s, %s, %s, %s{booleans_value})
ON CONFLICT (variant_id, metric, {key}) DO UPDATE SET
    events = {table}.events + EXCLUDED.events, total = {table}.total + EXCLUDED.total{booleans_update}
"""


def _upsert(model, key: str, rows: list[tuple], *, booleans: bool) -> None:
    sql = _UPSERT.format(
        table=model._meta.db_table,
        key=key,
        booleans_column=", booleans" if booleans else "",
        booleans_value=", %s" if booleans else "",
        booleans_update=f", booleans = {model._meta.db_table}.booleans + EXCLUDED.booleans" if booleans else "",
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _sums_add(events, *, day) -> int:
    """Add just-stored events (all of one day) to the sums; returns how many events that was."""
    per_subject = [
        (r["experiment_id"], r["variant_id"], r["metric"], r["subject"], r["n"], r["t"] or 0.0, r["b"])
        for r in _per_subject(events)
    ]
    per_day: dict[tuple, list] = {}
    for experiment_id, variant_id, metric, _, n, total, _ in per_subject:
        entry = per_day.setdefault((experiment_id, variant_id, metric), [0, 0.0])
        entry[0] += n
        entry[1] += total
    _upsert(OutcomeSubjectSum, "subject", per_subject, booleans=True)
    _upsert(
        OutcomeDaySum, "day", [(e, v, m, day, n, t) for (e, v, m), (n, t) in sorted(per_day.items())], booleans=False
    )
    return sum(row[4] for row in per_subject)


def outcome_sums_rebuild(*, experiment_id: int) -> None:
    """Recompute an experiment's per-subject and per-day sums from its events (after a bulk import)."""
    events = OutcomeEvent.objects.filter(experiment_id=experiment_id)
    with transaction.atomic():
        OutcomeSubjectSum.objects.filter(experiment_id=experiment_id).delete()
        OutcomeDaySum.objects.filter(experiment_id=experiment_id).delete()
        table = OutcomeSubjectSum._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""INSERT INTO {table} (experiment_id, variant_id, metric, subject, events, total, booleans)
                SELECT experiment_id, variant_id, metric, subject, COUNT(*), SUM(value),
                       SUM(CASE WHEN is_boolean THEN 1 ELSE 0 END)
                FROM {OutcomeEvent._meta.db_table} WHERE experiment_id = %s
                GROUP BY experiment_id, variant_id, metric, subject""",  # noqa: S608
                [experiment_id],
            )
        days = (
            events.annotate(day=TruncDate("created_at"))
            .values("variant_id", "metric", "day")
            .annotate(n=Count("id"), t=Sum("value"))
            .order_by()
        )
        OutcomeDaySum.objects.bulk_create(
            OutcomeDaySum(
                experiment_id=experiment_id,
                variant_id=r["variant_id"],
                metric=r["metric"],
                day=r["day"],
                events=r["n"],
                total=r["t"] or 0.0,
            )  # fmt: skip
            for r in days
        )
