"""Reads behind the API's list and detail endpoints, always within one project."""

from __future__ import annotations

from django.db import connection
from django.db.models import Avg, Count, Max, Prefetch, QuerySet, Sum

from promptlib.experiments.models import Experiment, OutcomeEvent, Variant
from promptlib.prompts.models import Label, Template, Version

MAX_INT = 2**31 - 1
MAX_BIGINT = 2**63 - 1


def templates_list(*, project_id: int, tag: str | None = None, label: str | None = None) -> QuerySet[Template]:
    templates = (
        Template.objects.filter(project_id=project_id)
        .annotate(latest_number=Max("versions__number"))
        .prefetch_related(Prefetch("labels", queryset=Label.objects.select_related("version")))
        .order_by("slug")
    )
    if tag:
        if connection.features.supports_json_field_contains:
            templates = templates.filter(tags__contains=[tag])
        else:  # SQLite: match the quoted tag inside the JSON text (tags are validated slugs)
            templates = templates.filter(tags__icontains=f'"{tag}"')
    if label:
        templates = templates.filter(labels__name=label)
    return templates


def template_find(*, project_id: int, slug: str) -> Template | None:
    return (
        Template.objects.filter(project_id=project_id, slug=slug)
        .prefetch_related(Prefetch("labels", queryset=Label.objects.select_related("version", "updated_by")))
        .first()
    )


def versions_list(*, template: Template) -> QuerySet[Version]:
    return template.versions.select_related("author").order_by("-number")


def version_find(*, template: Template, number: int) -> Version | None:
    if not 0 < number <= MAX_INT:
        return None
    return template.versions.select_related("author").filter(number=number).first()


def version_latest(*, template: Template) -> Version | None:
    return template.versions.select_related("author").order_by("-number").first()


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
    if not 0 < pk <= MAX_BIGINT:
        return None
    return experiments_list(project_id=project_id).filter(pk=pk).first()


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
