"""Writes to knowledge bases: create and change them, upload and remove documents, publish snapshots,
move labels. Each is one transaction: a refused upload leaves nothing behind.

    kb = knowledge_base_create(project=p, name="shop-policies")
    result = document_upload(knowledge_base=kb, source="refunds.md", data=b"# Refunds\n...")
    snapshot = knowledge_publish(knowledge_base=kb, user=alice)      # label `latest` moves to it
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from promptlib.core.caching import knowledge_cache_invalidate
from promptlib.knowledge.chunking import chunk_settings_check, chunks_preview
from promptlib.knowledge.errors import KnowledgeError
from promptlib.knowledge.models import Chunk, Document, KnowledgeBase, Snapshot, SnapshotChunk, SnapshotLabel
from promptlib.knowledge.parsing import document_parse, source_clean

EMBED_TASK = "promptlib.tasks.knowledge_embed"
LATEST = "latest"
MAX_TAGS = 20
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
_TAG = re.compile(r"^[\w-]{1,40}$", re.UNICODE)


@dataclass(frozen=True)
class UploadResult:
    document: Document
    created: bool  # False: the same bytes, title and tags were the current version already
    chunk_count: int


def name_check(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name):
        raise KnowledgeError(
            "A name uses lower-case letters, digits, - and _ (e.g. shop-policies), at most 80.", field="name"
        )
    return name


def tags_clean(tags: Sequence[str] | None, *, field: str = "tags") -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
        raise KnowledgeError("Tags are a list of short words.", field=field)
    cleaned: list[str] = []
    for tag in tags:
        tag = tag.strip().lower()
        if not tag:
            continue
        if not _TAG.match(tag):
            raise KnowledgeError(f"{tag!r}: a tag is one word (letters, digits, - or _), at most 40.", field=field)
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise KnowledgeError(f"At most {MAX_TAGS} tags.", field=field)
    return cleaned


def _embedding_provider_check(project_id: int, provider, model: str) -> None:
    if provider is not None and provider.project_id != project_id:
        raise KnowledgeError("That provider belongs to another project.", field="embedding_provider")
    if provider is not None and not model.strip():
        raise KnowledgeError("Name the embedding model the provider offers.", field="embedding_model")


def knowledge_base_create(
    *,
    project,
    name: str,
    description: str = "",
    chunk_size: int = 800,
    chunk_overlap: int = 100,
    embedding_provider=None,
    embedding_model: str = "",
) -> KnowledgeBase:
    name = name_check(name)
    chunk_settings_check(chunk_size, chunk_overlap)
    _embedding_provider_check(project.pk, embedding_provider, embedding_model)
    if KnowledgeBase.objects.filter(project=project, name=name).exists():
        raise KnowledgeError(f"A knowledge base named {name} exists already.", field="name", code="taken", status=409)
    try:
        with transaction.atomic():
            return KnowledgeBase.objects.create(
                project=project,
                name=name,
                description=description,
                chunk_size=chunk_size,
                chunk_overlap=chunk_overlap,
                embedding_provider=embedding_provider,
                embedding_model=embedding_model.strip() if embedding_provider else "",
            )
    except IntegrityError:  # a concurrent create of the same name
        raise KnowledgeError(f"A knowledge base named {name} exists already.", field="name", code="taken", status=409)


def knowledge_base_update(
    *,
    knowledge_base: KnowledgeBase,
    description: str | None = None,
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
    embedding_provider=...,
    embedding_model: str | None = None,
) -> KnowledgeBase:
    """Change settings. New chunk settings apply to documents uploaded from now on (re-upload to re-cut)."""
    kb = knowledge_base
    size = kb.chunk_size if chunk_size is None else chunk_size
    overlap = kb.chunk_overlap if chunk_overlap is None else chunk_overlap
    chunk_settings_check(size, overlap)
    provider = kb.embedding_provider if embedding_provider is ... else embedding_provider
    model = kb.embedding_model if embedding_model is None else embedding_model.strip()
    _embedding_provider_check(kb.project_id, provider, model)
    kb.chunk_size, kb.chunk_overlap = size, overlap
    kb.embedding_provider, kb.embedding_model = provider, (model if provider else "")
    if description is not None:
        kb.description = description
    kb.save()
    if kb.embedding_provider_id:
        embedding_enqueue(knowledge_base=kb)
    return kb


def _tags_text(tags: list[str]) -> str:
    return f" {' '.join(tags)} " if tags else ""


def document_upload(
    *,
    knowledge_base: KnowledgeBase,
    source: str,
    data: bytes,
    title: str | None = None,
    tags: Sequence[str] | None = None,
    user=None,
    field: str = "file",
) -> UploadResult:
    """Add `data` as the document `source` (a new version if one exists with other bytes, title or
    tags; nothing if all are the same). Parsed and chunked before anything is written."""
    source = source_clean(source, field="source")
    tags = tags_clean(tags)
    parsed = document_parse(source=source, data=data, field=field)
    title = (title or "").strip()[:300] or parsed.title
    drafts = chunks_preview(
        text=parsed.text, chunk_size=knowledge_base.chunk_size, chunk_overlap=knowledge_base.chunk_overlap
    )
    if not drafts:
        raise KnowledgeError("This file has no text in it.", field=field, code="empty")
    content_hash = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        KnowledgeBase.objects.select_for_update().filter(pk=knowledge_base.pk).first()  # one upload at a time
        current = Document.objects.filter(knowledge_base=knowledge_base, source=source, is_current=True).first()
        if current and current.content_hash == content_hash and current.title == title and current.tags == tags:
            return UploadResult(document=current, created=False, chunk_count=current.chunks.count())
        last = Document.objects.filter(knowledge_base=knowledge_base, source=source).aggregate(n=Max("version"))["n"]
        if current:
            Document.objects.filter(pk=current.pk).update(is_current=False)
        document = Document.objects.create(
            knowledge_base=knowledge_base,
            source=source,
            version=(last or 0) + 1,
            kind=parsed.kind,
            title=title,
            tags=tags,
            content_hash=content_hash,
            original=data,
            text=parsed.text,
            warnings=parsed.warnings,
            created_by=user if user is not None and getattr(user, "is_authenticated", False) else None,
        )
        reuse = _embeddings_known(knowledge_base, [d.content_hash for d in drafts])
        Chunk.objects.bulk_create(
            [
                Chunk(
                    knowledge_base=knowledge_base,
                    document=document,
                    ordinal=draft.ordinal,
                    title=draft.title,
                    text=draft.text,
                    content_hash=draft.content_hash,
                    tags=tags,
                    tags_text=_tags_text(tags),
                    embedding=reuse.get(draft.content_hash),
                    embedding_model=knowledge_base.embedding_model if draft.content_hash in reuse else "",
                )
                for draft in drafts
            ],
            batch_size=500,
        )
        if knowledge_base.embedding_provider_id and len(reuse) < len({d.content_hash for d in drafts}):
            embedding_enqueue(knowledge_base=knowledge_base)
    return UploadResult(document=document, created=True, chunk_count=len(drafts))


def document_text_upload(
    *,
    knowledge_base: KnowledgeBase,
    source: str,
    text: str,
    title: str | None = None,
    tags: Sequence[str] | None = None,
    user=None,
) -> UploadResult:
    """A document given as text (the API's JSON form): stored as UTF-8."""
    if not isinstance(text, str):
        raise KnowledgeError("Send the document's text as a string.", field="text")
    return document_upload(
        knowledge_base=knowledge_base, source=source, data=text.encode("utf-8"), title=title, tags=tags, user=user,
        field="text",
    )  # fmt: skip


def _embeddings_known(knowledge_base: KnowledgeBase, hashes: list[str]) -> dict[str, list[float]]:
    """Vectors already made (with the current model) for chunks of these content hashes."""
    if not knowledge_base.embedding_model or not hashes:
        return {}
    known: dict[str, list[float]] = {}
    rows = Chunk.objects.filter(
        knowledge_base=knowledge_base,
        content_hash__in=set(hashes),
        embedding_model=knowledge_base.embedding_model,
        embedding__isnull=False,
    ).values_list("content_hash", "embedding")
    for content_hash, vector in rows:
        known.setdefault(content_hash, vector)
    return known


def document_remove(*, document: Document) -> None:
    """Take a document out of the knowledge base from the next snapshot on (published ones keep it)."""
    Document.objects.filter(pk=document.pk).update(is_current=False)


def knowledge_publish(*, knowledge_base: KnowledgeBase, user=None, note: str = "") -> Snapshot:
    """An immutable snapshot of the chunks of the current documents; `latest` moves to it. When they are
    the same chunks as the latest snapshot's, that snapshot is returned and nothing is made."""
    with transaction.atomic():
        kb = KnowledgeBase.objects.select_for_update().get(pk=knowledge_base.pk)
        chunk_ids = list(
            Chunk.objects.filter(document__knowledge_base=kb, document__is_current=True)
            .order_by("id")
            .values_list("id", flat=True)
        )
        if not chunk_ids:
            raise KnowledgeError(
                "Add at least one document before publishing.", field="documents", code="empty", status=409
            )
        latest = SnapshotLabel.objects.filter(knowledge_base=kb, name=LATEST).select_related("snapshot").first()
        if latest is not None:
            held = SnapshotChunk.objects.filter(snapshot=latest.snapshot).order_by("chunk_id")
            held = list(held.values_list("chunk_id", flat=True))
            if held == chunk_ids:
                return latest.snapshot
        number = (Snapshot.objects.filter(knowledge_base=kb).aggregate(n=Max("number"))["n"] or 0) + 1
        snapshot = Snapshot.objects.create(
            knowledge_base=kb,
            number=number,
            note=note,
            chunk_count=len(chunk_ids),
            created_by=user if user is not None and getattr(user, "is_authenticated", False) else None,
        )
        SnapshotChunk.objects.bulk_create(
            [SnapshotChunk(snapshot=snapshot, chunk_id=chunk_id) for chunk_id in chunk_ids], batch_size=2000
        )
        _label_move(kb, LATEST, snapshot)
    return snapshot


def _label_move(kb: KnowledgeBase, name: str, snapshot: Snapshot) -> SnapshotLabel:
    knowledge_cache_invalidate(project_id=kb.project_id, name=kb.name, labels=(name,))  # renders that follow it
    label = SnapshotLabel.objects.filter(knowledge_base=kb, name=name).first()
    if label is None:
        return SnapshotLabel.objects.create(knowledge_base=kb, name=name, snapshot=snapshot)
    label.snapshot = snapshot
    label.save(update_fields=["snapshot", "updated_at"])
    return label


def snapshot_label_set(*, knowledge_base: KnowledgeBase, name: str, number: int) -> SnapshotLabel:
    """Point the label `name` (e.g. production) at snapshot `number`. `latest` moves only by publishing."""
    name = (name or "").strip()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,59}", name):
        raise KnowledgeError("A label uses lower-case letters, digits, - and _ (e.g. production).", field="label")
    if name == LATEST:
        raise KnowledgeError("`latest` moves by itself on every publish.", field="label")
    snapshot = Snapshot.objects.filter(knowledge_base=knowledge_base, number=number).first()
    if snapshot is None:
        raise KnowledgeError(f"{knowledge_base.name} has no snapshot {number}.", field="snapshot", code="not_found")
    with transaction.atomic():
        return _label_move(knowledge_base, name, snapshot)


def embedding_enqueue(*, knowledge_base: KnowledgeBase) -> None:
    """Make the missing vectors on a worker, once the current transaction commits."""
    kb_id = knowledge_base.pk

    def send() -> None:
        # By name: services never import the task module (it imports them).
        current_app.signature(EMBED_TASK).apply_async(args=(kb_id,), queue=settings.CELERY_TASK_DEFAULT_QUEUE)

    transaction.on_commit(send)
