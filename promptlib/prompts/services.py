"""Writes for templates, versions and labels."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.db.models import Max

from promptlib.core.caching import template_cache_invalidate
from promptlib.core.errors import DomainError
from promptlib.core.models import Project
from promptlib.prompts.content import VersionContent
from promptlib.prompts.models import LABEL_NAME_MAX, Label, LabelEvent, Template, Version
from promptlib.prompts.rendering import validate_content
from promptlib.prompts.retrieval import retrieval_check


class LabelError(DomainError):
    default_field = "label"


# Applications ask for a label by name; one spelling per label (lowercase, no spaces) keeps
# "Production " from silently becoming a second label beside "production".
_LABEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _label_key(name: str) -> str:
    """What two names that a person would read as the same label share: case and separators ignored."""
    return re.sub(r"[\s_-]+", "", name.casefold())


def label_name_clean(*, name: str, template: Template | None = None) -> str:
    """The label name as stored, or LabelError(field="name") saying how to write it.

    With a template, a new name that reads the same as one of its labels ("prod-uction" beside
    "production") is refused: it would point applications at two labels that look alike.
    """
    cleaned = (name or "").strip()
    if not cleaned:
        raise LabelError("A label needs a name, e.g. production.", field="name")
    if len(cleaned) > LABEL_NAME_MAX:
        raise LabelError(f"A label name has at most {LABEL_NAME_MAX} characters.", field="name")
    if not _LABEL_NAME.match(cleaned):
        suggestion = re.sub(r"[^a-z0-9_-]+", "-", cleaned.casefold()).strip("-_")
        hint = f" — e.g. “{suggestion}”" if suggestion and _LABEL_NAME.match(suggestion) else ""
        raise LabelError(
            "A label name uses lowercase letters, digits, - and _ only, starting with a letter or digit" + hint + ".",
            field="name",
            code="invalid_label_name",
        )
    if template is not None:
        names = list(Label.objects.filter(template=template).values_list("name", flat=True))
        twin = next((n for n in names if n != cleaned and _label_key(n) == _label_key(cleaned)), None)
        if twin is not None:
            raise LabelError(
                f"“{cleaned}” reads the same as the existing label “{twin}”; use “{twin}”.",
                field="name",
                code="near_duplicate_label",
            )
    return cleaned


def template_create(
    *, project: Project, slug: str, title: str, description: str = "", tags: list[str] | None = None
) -> Template:
    return Template.objects.create(
        project=project, slug=slug, title=title, description=description, tags=list(tags or [])
    )


def version_create(
    *, template: Template, content: VersionContent, author=None, change_note: str = ""
) -> tuple[Version, bool]:
    """Save content as the template's next version. Returns (version, created).

    Content identical to the latest version creates nothing and returns the latest. Two editors
    saving at once get consecutive numbers: the template row is locked while the number is taken.
    """
    content = content.normalized()
    validate_content(content)
    retrieval_check(project_id=template.project_id, block=content.retrieval)
    content_hash = content.content_hash()
    for attempt in range(5):
        try:
            with transaction.atomic():
                # Serialises writers per template (a row lock on PostgreSQL; SQLite's IMMEDIATE
                # transactions already serialise all writers).
                Template.objects.select_for_update().filter(pk=template.pk).first()
                latest = template.versions.order_by("-number").only("number", "content_hash").first()
                if latest is not None and latest.content_hash == content_hash:
                    return Version.objects.get(pk=latest.pk), False
                number = (template.versions.aggregate(n=Max("number"))["n"] or 0) + 1
                version = Version(
                    template=template,
                    number=number,
                    content_hash=content_hash,
                    author=author if author is not None and author.is_authenticated else None,
                    change_note=change_note,
                    **content.to_dict(),
                )
                version.save()
                Template.objects.filter(pk=template.pk).update(updated_at=version.created_at)
                template_cache_invalidate(project_id=template.project_id, slug=template.slug)
                return version, True
        except IntegrityError:
            # The unique (template, number) constraint is the backstop if a lock was not honoured.
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def label_move(
    *, template: Template, name: str, version: Version, actor=None, via: str = "admin", note: str = ""
) -> Label:
    """Point a label at a version (publish or roll back), recording the move."""
    if version.template_id != template.pk:
        raise LabelError(f"Version {version.number} does not belong to template '{template.slug}'.", field="version")
    name = label_name_clean(name=name, template=template)
    # Two requests creating the same new label both find none; the second insert then breaks the
    # unique constraint. Its retry finds (and locks) the label the first created, and moves it.
    for attempt in range(3):
        try:
            return _label_move_once(template=template, name=name, version=version, actor=actor, via=via, note=note)
        except IntegrityError as exc:
            if attempt == 2:
                raise LabelError(
                    f"Label '{name}' was changed by another request at the same time; try again.",
                    field="name", code="conflict", status=409,
                ) from exc  # fmt: skip
    raise AssertionError("unreachable")


def _label_move_once(*, template: Template, name: str, version: Version, actor, via: str, note: str) -> Label:
    with transaction.atomic():
        label = Label.objects.select_for_update().filter(template=template, name=name).first()
        previous = label.version if label else None
        if label is None:
            label = Label(template=template, name=name)
        if previous is not None and previous.pk == version.pk:
            return label
        label.version = version
        label.updated_by = actor if actor is not None and actor.is_authenticated else None
        label.save()
        LabelEvent.objects.create(
            template=template,
            label=name,
            action=LabelEvent.Action.MOVE,
            from_version=previous,
            to_version=version,
            actor=label.updated_by,
            via=via,
            note=note,
        )
        template_cache_invalidate(project_id=template.project_id, slug=template.slug)
    return label


def label_remove(*, template: Template, name: str, actor=None, via: str = "admin", note: str = "") -> None:
    with transaction.atomic():
        label = Label.objects.select_for_update().filter(template=template, name=name).first()
        if label is None:
            raise LabelError(f"Template '{template.slug}' has no label '{name}'.", field="name")
        LabelEvent.objects.create(
            template=template,
            label=name,
            action=LabelEvent.Action.REMOVE,
            from_version=label.version,
            to_version=None,
            actor=actor if actor is not None and actor.is_authenticated else None,
            via=via,
            note=note,
        )
        label.delete()
        template_cache_invalidate(project_id=template.project_id, slug=template.slug)
