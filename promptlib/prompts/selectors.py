"""Reads of templates, versions and labels, always within one project.

Out-of-range numbers need no guard here: Django answers an integer lookup beyond the column's range
with no rows.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Max, Prefetch, QuerySet

from promptlib.prompts.models import Label, Template, Version


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
    """The template with its labels (and who moved them) prefetched."""
    return (
        Template.objects.filter(project_id=project_id, slug=slug)
        .prefetch_related(Prefetch("labels", queryset=Label.objects.select_related("version", "updated_by")))
        .first()
    )


def template_label(*, template: Template, name: str) -> Label | None:
    """One of the template's labels, from its prefetched labels when template_find loaded it."""
    return next((label for label in template.labels.all() if label.name == name), None)


def versions_list(*, template: Template) -> QuerySet[Version]:
    return template.versions.select_related("author").order_by("-number")


def version_find(*, template: Template, number: int) -> Version | None:
    return template.versions.select_related("author").filter(number=number).first()


def version_latest(*, template: Template) -> Version | None:
    return versions_list(template=template).first()


def version_for_label(*, template: Template, label: str) -> Version | None:
    found = Label.objects.select_related("version").filter(template=template, name=label).first()
    return found.version if found else None
