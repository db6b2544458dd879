"""Knowledge as code: templates_store/knowledge/<name>/ directories ⇄ a project's knowledge bases.

A directory holds one knowledge base: `knowledge.yaml` (its settings, and each document's title and
tags) and the documents themselves, byte for byte, at their paths (sub-folders allowed):

    templates_store/knowledge/coffee-shop/
      knowledge.yaml          description, chunk_size, chunk_overlap, embedding_provider, embedding_model,
                              documents: {policies/refunds.md: {title: Refunds, tags: [policy]}, …}
      policies/refunds.md
      catalogue.csv

Import reads and parses every file of every directory before writing; then, in one transaction, each
knowledge base is created or updated, each document uploaded (unchanged bytes, title and tags change
nothing), documents no longer in the directory leave it, and it is published (a new snapshot only if
its chunks changed). One bad file: every problem is listed and nothing is written. Snapshot numbers and
history stay in the database, so export → import → export gives the same files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.db import transaction

from promptlib.knowledge.errors import KnowledgeError
from promptlib.knowledge.models import Document, KnowledgeBase
from promptlib.knowledge.parsing import KINDS, document_parse, max_upload_bytes, source_clean
from promptlib.knowledge.services import (
    document_remove,
    document_upload,
    knowledge_base_create,
    knowledge_base_update,
    knowledge_publish,
    name_check,
    tags_clean,
)
from promptlib.providers.selectors import provider_config_find

SETTINGS_FILE = "knowledge.yaml"
SETTINGS_KEYS = ("description", "chunk_size", "chunk_overlap", "embedding_provider", "embedding_model", "documents")


@dataclass(frozen=True)
class StoredDocument:
    source: str
    data: bytes
    title: str
    tags: list[str]


@dataclass(frozen=True)
class KnowledgeDirectory:
    name: str
    settings: dict
    documents: list[StoredDocument]


class KnowledgeStoreError(Exception):
    """One or more files are unusable; nothing was imported."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class KnowledgeImportSummary:
    created: int = 0
    documents_added: int = 0
    documents_removed: int = 0
    unchanged: int = 0
    snapshots: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        published = ", ".join(self.snapshots) or "none"
        return (
            f"{self.created} knowledge bases created, {self.documents_added} documents added or changed, "
            f"{self.documents_removed} removed, {self.unchanged} unchanged; snapshots: {published}"
        )


def _settings_read(directory: Path, problems: list[str]) -> dict:
    path = directory / SETTINGS_FILE
    if not path.is_file():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: not readable YAML: {exc}")
        return {}
    if not isinstance(loaded, dict):
        problems.append(f"{path}: must be a mapping of settings")
        return {}
    unknown = sorted(set(loaded) - set(SETTINGS_KEYS))
    if unknown:
        problems.append(f"{path}: unknown keys {', '.join(unknown)} (known: {', '.join(SETTINGS_KEYS)})")
    if not isinstance(loaded.get("documents") or {}, dict):
        problems.append(f"{path}: documents: a mapping of file path → title and tags")
        loaded["documents"] = {}
    return loaded


def knowledge_directory_read(directory: Path) -> tuple[KnowledgeDirectory | None, list[str]]:
    """A knowledge base's directory, parsed and checked (every document read as an upload would be)."""
    problems: list[str] = []
    try:
        name = name_check(directory.name)
    except KnowledgeError as exc:
        return None, [f"{directory}: {exc.message}"]
    settings = _settings_read(directory, problems)
    listed = settings.get("documents") or {}
    documents: list[StoredDocument] = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != SETTINGS_FILE):
        relative = path.relative_to(directory).as_posix()
        if path.name.startswith(".") or path.suffix.lower() not in KINDS:
            problems.append(f"{path}: not a knowledge document (.txt, .md, .html, .csv, .pdf)")
            continue
        try:
            source = source_clean(relative)
            if path.stat().st_size > max_upload_bytes():
                raise KnowledgeError(f"larger than {max_upload_bytes() // 1024 // 1024} MB", field="file")
            data = path.read_bytes()
            document_parse(source=source, data=data)
            meta = listed.get(relative) or {}
            if not isinstance(meta, dict):
                raise KnowledgeError("its entry in knowledge.yaml must hold title and tags", field="documents")
            documents.append(
                StoredDocument(
                    source=source, data=data, title=str(meta.get("title") or ""), tags=tags_clean(meta.get("tags"))
                )
            )
        except KnowledgeError as exc:
            problems.append(f"{path}: {exc.field}: {exc.message}")
    for missing in sorted(str(name) for name in listed if not (directory / str(name)).is_file()):
        problems.append(f"{directory / SETTINGS_FILE}: documents: {missing} is listed but there is no such file")
    if not documents and not problems:
        problems.append(f"{directory}: holds no documents")
    return KnowledgeDirectory(name=name, settings=settings, documents=documents), problems


def knowledge_store_read(path: Path) -> list[KnowledgeDirectory]:
    """Every knowledge base under `path` (a directory of knowledge directories, or one of them)."""
    if not path.is_dir():
        raise KnowledgeStoreError([f"{path}: no such directory"])
    if (path / SETTINGS_FILE).is_file():
        directories = [path]
    else:
        directories = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    found, problems = [], []
    for directory in directories:
        parsed, trouble = knowledge_directory_read(directory)
        problems += trouble
        if parsed is not None:
            found.append(parsed)
    if problems:
        raise KnowledgeStoreError(problems)
    return found


def _kb_sync(project, stored: KnowledgeDirectory, summary: KnowledgeImportSummary) -> KnowledgeBase:
    settings = stored.settings
    provider_name = settings.get("embedding_provider") or ""
    provider = provider_config_find(project_id=project.pk, name=str(provider_name)) if provider_name else None
    if provider_name and provider is None:
        raise KnowledgeError(
            f"{stored.name}: no provider named {provider_name} in this project.", field="embedding_provider"
        )
    options = {
        "description": str(settings.get("description") or ""),
        "chunk_size": settings.get("chunk_size", 800),
        "chunk_overlap": settings.get("chunk_overlap", 100),
        "embedding_provider": provider,
        "embedding_model": str(settings.get("embedding_model") or ""),
    }
    kb = KnowledgeBase.objects.filter(project=project, name=stored.name).first()
    if kb is None:
        summary.created += 1
        return knowledge_base_create(project=project, name=stored.name, **options)
    current = {
        "description": kb.description,
        "chunk_size": kb.chunk_size,
        "chunk_overlap": kb.chunk_overlap,
        "embedding_provider": kb.embedding_provider,
        "embedding_model": kb.embedding_model,
    }
    if provider is None:
        options["embedding_model"] = ""
    if current != options:
        kb = knowledge_base_update(knowledge_base=kb, **options)
    return kb


def knowledge_store_import(*, path: Path, project, actor=None, publish: bool = True) -> KnowledgeImportSummary:
    """Bring the project's knowledge bases in line with the directories under `path` (see the module notes)."""
    directories = knowledge_store_read(path)
    summary = KnowledgeImportSummary()
    try:
        with transaction.atomic():
            for stored in directories:
                kb = _kb_sync(project, stored, summary)
                changed = False
                for doc in stored.documents:
                    result = document_upload(
                        knowledge_base=kb, source=doc.source, data=doc.data, title=doc.title or None, tags=doc.tags,
                        user=actor,
                    )  # fmt: skip
                    summary.documents_added += result.created
                    changed |= result.created
                keep = {doc.source for doc in stored.documents}
                for gone in Document.objects.filter(knowledge_base=kb, is_current=True).exclude(source__in=keep):
                    document_remove(document=gone)
                    summary.documents_removed += 1
                    changed = True
                summary.unchanged += not changed
                if publish:
                    snapshot = knowledge_publish(knowledge_base=kb, user=actor, note=f"Imported from {path}")
                    summary.snapshots.append(f"{kb.name} #{snapshot.number}")
    except KnowledgeError as exc:
        raise KnowledgeStoreError([f"{exc.field}: {exc.message}"])
    return summary


def knowledge_settings_dump(kb: KnowledgeBase, documents: list[Document]) -> str:
    listed = {}
    for doc in documents:
        entry: dict = {"title": doc.title}
        if doc.tags:
            entry["tags"] = list(doc.tags)
        listed[doc.source] = entry
    settings = {
        "description": kb.description,
        "chunk_size": kb.chunk_size,
        "chunk_overlap": kb.chunk_overlap,
    }
    if kb.embedding_provider_id:
        settings["embedding_provider"] = kb.embedding_provider.name
        settings["embedding_model"] = kb.embedding_model
    settings["documents"] = listed
    return yaml.safe_dump(settings, sort_keys=False, allow_unicode=True, width=1_000_000)


@dataclass
class KnowledgeExportSummary:
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)


def _write(target: Path, data: bytes, summary: KnowledgeExportSummary) -> None:
    if target.is_file() and target.read_bytes() == data:
        summary.unchanged.append(target)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    summary.written.append(target)


def knowledge_store_export(*, project, directory: Path) -> KnowledgeExportSummary:
    """One directory per knowledge base: knowledge.yaml and its current documents as uploaded. Document
    files in those directories that are no longer current are deleted (others are kept)."""
    summary = KnowledgeExportSummary()
    for kb in KnowledgeBase.objects.filter(project=project).select_related("embedding_provider").order_by("name"):
        documents = list(Document.objects.filter(knowledge_base=kb, is_current=True).order_by("source"))
        target = directory / kb.name
        _write(target / SETTINGS_FILE, knowledge_settings_dump(kb, documents).encode("utf-8"), summary)
        for doc in documents:
            _write(target / doc.source, bytes(doc.original), summary)
        current = {doc.source for doc in documents}
        for path in sorted(p for p in target.rglob("*") if p.is_file() and p.suffix.lower() in KINDS):
            if path.relative_to(target).as_posix() not in current:
                path.unlink()
                summary.removed.append(path)
    return summary
