"""Importing parsed files into a project: one transaction, one new version per changed file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from promptlib.core.caching import template_cache_invalidate
from promptlib.core.models import Project
from promptlib.knowledge.store import KnowledgeStoreError, knowledge_store_import
from promptlib.prompts.content import clean_text
from promptlib.prompts.models import Label, Template
from promptlib.prompts.services import LabelError, label_move, template_create, version_create
from promptlib.prompts.store.files import SLUG_RE, StoreProblem, TemplateFile, TemplateStoreError
from promptlib.prompts.store.reading import template_files_read


@dataclass
class ImportSummary:
    project: Project | None = None
    project_created: bool = False
    templates_created: int = 0
    templates_updated: int = 0
    versions_created: int = 0
    labels_moved: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return (
            f"{self.templates_created} templates created, {self.templates_updated} updated, "
            f"{self.versions_created} new versions, {self.labels_moved} labels moved, {self.unchanged} unchanged"
        )


def _template_sync(*, project: Project, file: TemplateFile, summary: ImportSummary) -> tuple[Template, bool]:
    template = Template.objects.filter(project=project, slug=file.slug).first()
    if template is None:
        summary.templates_created += 1
        template = template_create(
            project=project, slug=file.slug, title=file.title, description=file.description, tags=file.tags
        )
        return template, True
    wanted = (file.title, file.description, file.tags)
    if (template.title, clean_text(template.description), template.tags) == wanted:
        return template, False
    template.title, template.description, template.tags = wanted
    template.save(update_fields=["title", "description", "tags", "updated_at"])
    template_cache_invalidate(project_id=project.pk, slug=template.slug)
    summary.templates_updated += 1
    return template, True


def templates_import(
    *, project_slug: str, files: list[TemplateFile], project_name: str = "", actor=None
) -> ImportSummary:
    """Bring a project's templates in line with parsed files, in one transaction.

    Unchanged files create nothing; a changed file creates exactly one version, and the labels it
    lists move to that version (recorded with via="import"). The project is created if missing.
    """
    if not SLUG_RE.fullmatch(project_slug or "") or len(project_slug) > 80:
        raise TemplateStoreError([StoreProblem("--project", "", f"{project_slug!r} is not a project slug")])
    summary = ImportSummary()
    with transaction.atomic():
        name = project_name or project_slug.replace("-", " ").replace("_", " ").title()
        summary.project, summary.project_created = Project.objects.get_or_create(
            slug=project_slug, defaults={"name": name}
        )
        for file in files:
            note = f"Imported from {file.path}"
            template, changed = _template_sync(project=summary.project, file=file, summary=summary)
            version, created = version_create(template=template, content=file.content, author=actor, change_note=note)
            summary.versions_created += created
            current = dict(Label.objects.filter(template=template).values_list("name", "version_id"))
            for label in file.labels:
                if current.get(label) == version.pk:
                    continue
                try:
                    label_move(template=template, name=label, version=version, actor=actor, via="import", note=note)
                except LabelError as exc:
                    raise TemplateStoreError([StoreProblem(file.path, "labels", exc.message)])
                summary.labels_moved += 1
                changed = True
            summary.unchanged += not (changed or created)
    return summary


KNOWLEDGE_DIR = "knowledge"  # templates_store/knowledge/<name>/: knowledge bases (promptlib.knowledge.store)


def templates_store_import(*, path: Path, project_slug: str, project_name: str = "", actor=None) -> ImportSummary:
    """Read and import a directory or file; nothing is written unless every file is valid.

    A directory's knowledge/ folder is imported first, in the same transaction: templates that
    retrieve name its knowledge bases, and a version may only name one its project has.
    """
    files = template_files_read(path=path)
    knowledge = path / KNOWLEDGE_DIR if path.is_dir() else None
    if knowledge is None or not knowledge.is_dir():
        return templates_import(project_slug=project_slug, files=files, project_name=project_name, actor=actor)
    with transaction.atomic():
        name = project_name or project_slug.replace("-", " ").replace("_", " ").title()
        project, _ = Project.objects.get_or_create(slug=project_slug, defaults={"name": name})
        try:
            knowledge_store_import(path=knowledge, project=project, actor=actor)
        except KnowledgeStoreError as exc:
            raise TemplateStoreError([StoreProblem(KNOWLEDGE_DIR, "", problem) for problem in exc.problems]) from exc
        return templates_import(project_slug=project_slug, files=files, project_name=project_name, actor=actor)
