"""Knowledge bases for scripts: list and create them, upload documents (a file as multipart/form-data,
or JSON text), publish snapshots, and search one. Everything is scoped to the key's project: another
project's knowledge base answers 404."""

from __future__ import annotations

import dataclasses

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from promptlib.api.base import WRITE_GRANTS, ProjectAPIView, ProjectListAPIView, error_responses, validated
from promptlib.api.parsers import SafeJSONParser
from promptlib.api.permissions import PROJECT_PARAMETER
from promptlib.core.models import Project
from promptlib.knowledge.api.serializers import (
    DocumentOutSerializer,
    DocumentTextSerializer,
    KnowledgeBaseChangeSerializer,
    KnowledgeBaseInSerializer,
    KnowledgeBaseOutSerializer,
    LabelSetSerializer,
    PublishSerializer,
    SearchOutSerializer,
    SearchSerializer,
    SnapshotOutSerializer,
)
from promptlib.knowledge.errors import KnowledgeError
from promptlib.knowledge.models import Document, KnowledgeBase, Snapshot
from promptlib.knowledge.parsing import upload_read
from promptlib.knowledge.selectors import documents_current, knowledge_bases_list, knowledge_search, snapshot_resolve
from promptlib.knowledge.services import (
    document_remove,
    document_text_upload,
    document_upload,
    knowledge_base_create,
    knowledge_base_update,
    knowledge_publish,
    snapshot_label_set,
)
from promptlib.providers.selectors import provider_config_find

TAGS = ["knowledge"]


def _kb(project_id: int, name: str) -> KnowledgeBase:
    found = None
    if "\x00" not in name:
        found = (
            KnowledgeBase.objects.filter(project_id=project_id, name=name[:80])
            .select_related("embedding_provider")
            .first()
        )
    if found is None:
        raise NotFound("No such knowledge base.")
    return found


def _provider(project_id: int, name: str):
    if not name:
        return None
    provider = provider_config_find(project_id=project_id, name=name[:80])
    if provider is None:
        raise KnowledgeError("No provider of that name in this project.", field="embedding_provider")
    return provider


def _kb_dict(kb: KnowledgeBase) -> dict:
    labels = {label.name: label.snapshot.number for label in kb.labels.select_related("snapshot")}
    return {
        "id": kb.pk,
        "name": kb.name,
        "description": kb.description,
        "chunk_size": kb.chunk_size,
        "chunk_overlap": kb.chunk_overlap,
        "embedding_provider": kb.embedding_provider.name if kb.embedding_provider else None,
        "embedding_model": kb.embedding_model,
        "embedding": {
            "status": kb.embed_status,
            "done": kb.embed_done,
            "total": kb.embed_total,
            "error": kb.embed_error,
        },
        "documents": documents_current(knowledge_base=kb).count(),
        "latest_snapshot": labels.get("latest"),
        "labels": labels,
    }


def _document_dict(doc: Document, *, created: bool | None = None, chunks: int | None = None) -> dict:
    out = {
        "id": doc.pk,
        "source": doc.source,
        "version": doc.version,
        "kind": doc.kind,
        "title": doc.title,
        "tags": doc.tags,
        "content_hash": doc.content_hash,
        "chunks": doc.chunks.count() if chunks is None else chunks,
        "warnings": doc.warnings,
    }
    if created is not None:
        out["created"] = created
    return out


def _snapshot_dict(s: Snapshot) -> dict:
    return {
        "id": s.pk,
        "number": s.number,
        "chunk_count": s.chunk_count,
        "note": s.note,
        "created_at": s.created_at,
        "labels": sorted(label.name for label in s.labels.all()),
    }


class KnowledgeBaseListView(ProjectListAPIView):
    grants = WRITE_GRANTS
    serializer_class = KnowledgeBaseOutSerializer

    @extend_schema(
        tags=TAGS,
        summary="List knowledge bases",
        parameters=[PROJECT_PARAMETER],
        responses={200: KnowledgeBaseOutSerializer(many=True), **error_responses()},
    )
    def get(self, request):
        listed = knowledge_bases_list(project_id=self.project_id).select_related("embedding_provider")
        return self.page(listed, _kb_dict)

    @extend_schema(
        tags=TAGS,
        summary="Create a knowledge base",
        parameters=[PROJECT_PARAMETER],
        request=KnowledgeBaseInSerializer,
        responses={201: KnowledgeBaseOutSerializer, **error_responses(400, 403, 409, 415)},
    )
    def post(self, request):
        data = dict(validated(KnowledgeBaseInSerializer, request.data))
        data["embedding_provider"] = _provider(self.project_id, data["embedding_provider"])
        kb = knowledge_base_create(project=Project.objects.get(pk=self.project_id), **data)
        return Response(_kb_dict(kb), status=201)


class KnowledgeBaseDetailView(ProjectAPIView):
    grants = WRITE_GRANTS

    @extend_schema(
        tags=TAGS,
        summary="A knowledge base",
        parameters=[PROJECT_PARAMETER],
        responses={200: KnowledgeBaseOutSerializer, **error_responses()},
    )
    def get(self, request, name: str):
        return Response(_kb_dict(_kb(self.project_id, name)))

    @extend_schema(
        tags=TAGS,
        summary="Change a knowledge base's settings (chunk settings apply to later uploads)",
        parameters=[PROJECT_PARAMETER],
        request=KnowledgeBaseChangeSerializer,
        responses={200: KnowledgeBaseOutSerializer, **error_responses(400, 403, 415)},
    )
    def patch(self, request, name: str):
        kb = _kb(self.project_id, name)
        data = dict(validated(KnowledgeBaseChangeSerializer, request.data))
        if "embedding_provider" in data:
            data["embedding_provider"] = _provider(self.project_id, data["embedding_provider"])
        kb = knowledge_base_update(knowledge_base=kb, **data)
        return Response(_kb_dict(kb))


class DocumentListView(ProjectListAPIView):
    grants = WRITE_GRANTS
    serializer_class = DocumentOutSerializer
    parser_classes = [SafeJSONParser, MultiPartParser]

    @extend_schema(
        tags=TAGS,
        summary="The current documents of a knowledge base",
        parameters=[PROJECT_PARAMETER],
        responses={200: DocumentOutSerializer(many=True), **error_responses()},
    )
    def get(self, request, name: str):
        return self.page(documents_current(knowledge_base=_kb(self.project_id, name)), _document_dict)

    @extend_schema(
        tags=TAGS,
        summary="Upload a document: a file (multipart, field `file`) or JSON text; the same again changes nothing",
        parameters=[PROJECT_PARAMETER],
        request={"application/json": DocumentTextSerializer, "multipart/form-data": DocumentTextSerializer},
        responses={201: DocumentOutSerializer, 200: DocumentOutSerializer, **error_responses(400, 403, 413, 415)},
    )
    def post(self, request, name: str):
        kb = _kb(self.project_id, name)
        if request.content_type.startswith("multipart/"):
            upload = request.FILES.get("file")
            if upload is None:
                raise KnowledgeError("Attach the document as the form field `file`.", field="file")
            tags = [t for t in request.data.get("tags", "").replace(";", ",").split(",") if t.strip()]
            result = document_upload(
                knowledge_base=kb,
                source=request.data.get("source") or upload.name,
                data=upload_read(upload),
                title=request.data.get("title") or None,
                tags=tags,
                user=self.actor(),
            )
        else:
            data = validated(DocumentTextSerializer, request.data)
            result = document_text_upload(
                knowledge_base=kb, source=data["source"], text=data["text"], title=data["title"] or None,
                tags=data["tags"], user=self.actor(),
            )  # fmt: skip
        body = _document_dict(result.document, created=result.created, chunks=result.chunk_count)
        return Response(body, status=201 if result.created else 200)


class DocumentDetailView(ProjectAPIView):
    grants = {"DELETE": WRITE_GRANTS["POST"]}

    def _document(self, name: str, source: str) -> Document:
        kb = _kb(self.project_id, name)
        found = kb.documents.filter(source=source[:300], is_current=True).first() if "\x00" not in source else None
        if found is None:
            raise NotFound("No such document.")
        return found

    @extend_schema(
        tags=TAGS,
        summary="A current document",
        parameters=[PROJECT_PARAMETER],
        responses={200: DocumentOutSerializer, **error_responses()},
    )
    def get(self, request, name: str, source: str):
        return Response(_document_dict(self._document(name, source)))

    @extend_schema(
        tags=TAGS,
        summary="Remove a document from the next snapshot on (published snapshots keep it)",
        parameters=[PROJECT_PARAMETER],
        responses={204: None, **error_responses(403)},
    )
    def delete(self, request, name: str, source: str):
        document_remove(document=self._document(name, source))
        return Response(status=204)


class LabelView(ProjectAPIView):
    grants = {"PUT": WRITE_GRANTS["POST"]}

    @extend_schema(
        tags=TAGS,
        summary="Point a label (e.g. production) at a snapshot number; `latest` moves only by publishing",
        parameters=[PROJECT_PARAMETER],
        request=LabelSetSerializer,
        responses={200: SnapshotOutSerializer, **error_responses(400, 403, 415)},
    )
    def put(self, request, name: str, label: str):
        kb = _kb(self.project_id, name)
        data = validated(LabelSetSerializer, request.data)
        moved = snapshot_label_set(knowledge_base=kb, name=label, number=data["snapshot"])
        return Response(_snapshot_dict(moved.snapshot))


class SnapshotListView(ProjectListAPIView):
    grants = {"POST": WRITE_GRANTS["POST"]}
    serializer_class = SnapshotOutSerializer

    @extend_schema(
        tags=TAGS,
        summary="The snapshots of a knowledge base, newest first",
        parameters=[PROJECT_PARAMETER],
        responses={200: SnapshotOutSerializer(many=True), **error_responses()},
    )
    def get(self, request, name: str):
        kb = _kb(self.project_id, name)
        return self.page(kb.snapshots.order_by("-number").prefetch_related("labels"), _snapshot_dict)

    @extend_schema(
        tags=TAGS,
        summary="Publish: an immutable snapshot of the current documents; `latest` moves to it",
        parameters=[PROJECT_PARAMETER],
        request=PublishSerializer,
        responses={201: SnapshotOutSerializer, 200: SnapshotOutSerializer, **error_responses(400, 403, 409, 415)},
    )
    def post(self, request, name: str):
        kb = _kb(self.project_id, name)
        data = validated(PublishSerializer, request.data)
        latest_before = kb.labels.filter(name="latest").values_list("snapshot_id", flat=True).first()
        snapshot = knowledge_publish(knowledge_base=kb, user=self.actor(), note=data["note"])
        return Response(_snapshot_dict(snapshot), status=200 if snapshot.pk == latest_before else 201)


class SearchView(ProjectAPIView):
    # A read, sent as POST so that long questions fit.

    @extend_schema(
        tags=TAGS,
        summary="Search a snapshot (by number, else by label: latest)",
        parameters=[PROJECT_PARAMETER],
        request=SearchSerializer,
        responses={200: SearchOutSerializer, **error_responses(400, 415)},
    )
    def post(self, request, name: str):
        kb = _kb(self.project_id, name)
        data = validated(SearchSerializer, request.data)
        snapshot_id = snapshot_resolve(
            project_id=self.project_id, knowledge_base=kb.name, snapshot=data["snapshot"], label=data["label"]
        )
        found = knowledge_search(
            project_id=self.project_id, snapshot_id=snapshot_id, query=data["query"], top_k=data["top_k"],
            mode=data["mode"], tags=data["tags"], min_score=data["min_score"],
        )  # fmt: skip
        number = Snapshot.objects.filter(pk=snapshot_id).values_list("number", flat=True).get()
        return Response({"snapshot": number, "results": [dataclasses.asdict(c) for c in found]})


urlpatterns_v1 = [
    ("knowledge-bases", KnowledgeBaseListView, "knowledge-base-list"),
    ("knowledge-bases/<str:name>", KnowledgeBaseDetailView, "knowledge-base-detail"),
    ("knowledge-bases/<str:name>/documents", DocumentListView, "knowledge-document-list"),
    ("knowledge-bases/<str:name>/documents/<path:source>", DocumentDetailView, "knowledge-document-detail"),
    ("knowledge-bases/<str:name>/labels/<str:label>", LabelView, "knowledge-label"),
    ("knowledge-bases/<str:name>/snapshots", SnapshotListView, "knowledge-snapshot-list"),
    ("knowledge-bases/<str:name>/search", SearchView, "knowledge-search"),
]
