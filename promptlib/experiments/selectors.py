"""Reads of experiments and their outcome counts, always within one project."""

from __future__ import annotations

from django.db.models import Avg, Count, Prefetch, QuerySet, Sum

from promptlib.experiments.metrics import MetricInfo, application_metric_info
from promptlib.experiments.models import ApplicationMetric, Experiment, OutcomeEvent, Variant
from promptlib.experiments.services import VariantSpec


def experiments_list(*, project_id: int, status: str | None = None, template: str | None = None) -> QuerySet:
    experiments = (
        Experiment.objects.filter(project_id=project_id)
        .select_related("template")
        .prefetch_related(Prefetch("variants", queryset=Variant.objects.select_related("version")))
        .order_by("-created_at", "-id")
    )
    if status:
        experiments = experiments.filter(status=status)
    if template:
        experiments = experiments.filter(template__slug=template)
    return experiments


def experiment_find(*, project_id: int, pk: int) -> Experiment | None:
    """The experiment with its template and variants; None for an id out of range, as for any unknown one."""
    return experiments_list(project_id=project_id).filter(pk=pk).first()


def experiment_variants_same(*, experiment: Experiment, variants: list[VariantSpec]) -> bool:
    """True when `variants` repeat the current ones (a GET-modify-PATCH client sends them back unchanged)."""
    current = {(v.key, v.version_id, v.weight, v.is_control) for v in experiment.variants.all()}
    wanted = {(s.key, s.version.pk, s.weight, s.is_control) for s in variants}
    return current == wanted and len(variants) == len(current)


def experiment_counts(*, experiment: Experiment) -> dict[int, dict]:
    """Per variant id: distinct subjects with outcomes, and per metric events, subjects, mean and sum."""
    events = OutcomeEvent.objects.filter(experiment=experiment)
    counts: dict[int, dict] = {v.pk: {"subjects": 0, "metrics": {}} for v in experiment.variants.all()}
    for row in events.values("variant_id").annotate(subjects=Count("subject", distinct=True)).order_by():
        counts.setdefault(row["variant_id"], {"subjects": 0, "metrics": {}})["subjects"] = row["subjects"]
    per_metric = (
        events.values("variant_id", "metric")
        .annotate(events=Count("id"), subjects=Count("subject", distinct=True), mean=Avg("value"), sum=Sum("value"))
        .order_by("metric")
    )
    for row in per_metric:
        counts.setdefault(row["variant_id"], {"subjects": 0, "metrics": {}})["metrics"][row["metric"]] = {
            "events": row["events"],
            "subjects": row["subjects"],
            "mean": row["mean"],
            "sum": row["sum"],
        }
    return counts


def application_metrics_registered(*, project_id: int) -> dict[str, tuple[MetricInfo, float | None]]:
    """{name: (description with its direction and unit, minimum effect in its units)} of a project's metrics."""
    rows = ApplicationMetric.objects.filter(project_id=project_id)
    return {
        m.name: (
            application_metric_info(name=m.name, label=m.label, direction=m.direction, kind=m.kind, unit=m.unit),
            m.minimum_effect,
        )
        for m in rows
    }


def application_metric_labels(*, project_ids) -> dict[str, str]:
    """{name: "Complaints (lower is better)"}: the registered metrics as a marketer picks them."""
    rows = ApplicationMetric.objects.filter(project_id__in=project_ids).order_by("name")
    return {m.name: f"{m.label} ({m.get_direction_display().lower()})" for m in rows}
