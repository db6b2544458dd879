"""Reads shared across the admin, the API and the workers."""

from __future__ import annotations

from promptlib.prompts.models import Label, Template, Version


def template_get(*, project_id: int, slug: str) -> Template | None:
    return Template.objects.filter(project_id=project_id, slug=slug).first()


def version_latest(*, template: Template) -> Version | None:
    return template.versions.order_by("-number").first()


def version_for_label(*, template: Template, label: str) -> Version | None:
    found = Label.objects.select_related("version").filter(template=template, name=label).first()
    return found.version if found else None


def version_by_number(*, template: Template, number: int) -> Version | None:
    return Version.objects.filter(template=template, number=number).first()
