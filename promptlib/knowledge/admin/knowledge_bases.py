"""Knowledge bases in the admin: documents, upload, chunk preview, a search box showing scores,
publishing, snapshot history and the difference between two snapshots."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from promptlib.admin.base import ProjectListFilter, ProjectScopedAdmin, form_error_add, user_may
from promptlib.core.models import Role
from promptlib.knowledge.admin.forms import PreviewForm, PublishForm, SearchForm, UploadForm, words
from promptlib.knowledge.chunking import chunk_settings_check, chunks_preview
from promptlib.knowledge.errors import KnowledgeError
from promptlib.knowledge.models import Document, KnowledgeBase, Snapshot
from promptlib.knowledge.parsing import upload_read
from promptlib.knowledge.selectors import knowledge_search, snapshot_diff, snapshot_resolve
from promptlib.knowledge.services import (
    document_remove,
    document_upload,
    embedding_enqueue,
    knowledge_base_create,
    knowledge_base_update,
    knowledge_publish,
    name_check,
)

TEMPLATES = "admin/promptlib/knowledgebase"
PREVIEW_SHOWN = 200


class KnowledgeBaseForm(forms.ModelForm):
    class Meta:
        model = KnowledgeBase
        fields = ("project", "name", "description", "chunk_size", "chunk_overlap", "embedding_provider",
                  "embedding_model")  # fmt: skip
        labels = {"chunk_size": "Passage size", "chunk_overlap": "Overlap"}

    def clean(self):
        data = super().clean()
        try:
            if "name" in data and not self.instance.pk:
                name_check(data["name"])
            if data.get("chunk_size") is not None and data.get("chunk_overlap") is not None:
                chunk_settings_check(data["chunk_size"], data["chunk_overlap"])
            provider, project = (
                data.get("embedding_provider"),
                data.get("project") or getattr(self.instance, "project", None),
            )
            if provider is not None and project is not None and provider.project_id != project.pk:
                raise KnowledgeError("Choose a provider of the knowledge base's project.", field="embedding_provider")
            if provider is not None and not (data.get("embedding_model") or "").strip():
                raise KnowledgeError("Name the embedding model the provider offers.", field="embedding_model")
        except KnowledgeError as exc:
            form_error_add(self, exc)
        return data


@admin.register(KnowledgeBase)
class KnowledgeBaseAdmin(ProjectScopedAdmin):
    form = KnowledgeBaseForm
    empty_help = (
        "No knowledge bases yet. A knowledge base holds documents your prompts can quote: policies, product "
        "lists, brand guides. Click “Add knowledge base”, save it, then upload its documents."
    )
    list_display = ("name", "project", "document_count", "latest_snapshot", "updated_at")
    list_filter = (ProjectListFilter,)
    search_fields = ("name", "description")
    fields = ("project", "name", "description", "chunk_size", "chunk_overlap", "embedding_provider", "embedding_model")
    change_form_template = f"{TEMPLATES}/change_form.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("project", "embedding_provider")
            .annotate(current_documents=Count("documents", filter=Q(documents__is_current=True)))
        )

    def get_readonly_fields(self, request, obj=None):
        return ("project", "name") if obj is not None else ()

    @admin.display(description="Documents", ordering="current_documents")
    def document_count(self, obj):
        return obj.current_documents

    @admin.display(description="Latest snapshot")
    def latest_snapshot(self, obj):
        label = obj.labels.filter(name="latest").select_related("snapshot").first()
        return f"#{label.snapshot.number}" if label else "not published"

    def save_model(self, request, obj, form, change):
        if not self.has_role(request, self.edit_role, obj):
            raise PermissionDenied
        data = form.cleaned_data
        options = {k: data[k] for k in ("description", "chunk_size", "chunk_overlap", "embedding_provider")}
        options["embedding_model"] = data.get("embedding_model") or ""
        if change:
            knowledge_base_update(knowledge_base=obj, **options)
        else:
            created = knowledge_base_create(project=data["project"], name=data["name"], **options)
            obj.pk = created.pk
            obj.refresh_from_db()

    # --- the custom pages -----------------------------------------------------------------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        name = "promptlib_knowledgebase"
        return [
            path("<int:pk>/upload/", wrap(self.upload_view), name=f"{name}_upload"),
            path("<int:pk>/documents/<int:doc>/", wrap(self.document_view), name=f"{name}_document"),
            path("<int:pk>/documents/<int:doc>/remove/", wrap(self.remove_view), name=f"{name}_remove"),
            path("<int:pk>/publish/", wrap(self.publish_view), name=f"{name}_publish"),
            path("<int:pk>/embed/", wrap(self.embed_view), name=f"{name}_embed"),
            path("<int:pk>/search/", wrap(self.search_view), name=f"{name}_search"),
            path("<int:pk>/preview/", wrap(self.preview_view), name=f"{name}_preview"),
            path("<int:pk>/compare/", wrap(self.compare_view), name=f"{name}_compare"),
            *super().get_urls(),
        ]

    def _kb(self, request, pk: int, role: str) -> KnowledgeBase:
        kb = get_object_or_404(self.get_queryset(request), pk=pk)
        if not user_may(request, role, kb.project_id):
            raise PermissionDenied
        return kb

    def _page(self, request, kb: KnowledgeBase, template: str, title: str, **context):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": kb,
            "title": title,
            **context,
        }
        return TemplateResponse(request, f"{TEMPLATES}/{template}", context)

    def _back(self, kb: KnowledgeBase):
        return redirect(reverse("admin:promptlib_knowledgebase_change", args=[kb.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        kb = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if kb is not None:
            snapshots = list(
                kb.snapshots.order_by("-number").select_related("created_by").prefetch_related("labels")[:50]
            )
            extra.update(
                documents=kb.documents.filter(is_current=True).annotate(chunk_total=Count("chunks")).order_by("source"),
                snapshots=snapshots,
                may_edit=user_may(request, Role.EDITOR, kb.project_id),
                may_publish=user_may(request, Role.PUBLISHER, kb.project_id),
                publish_form=PublishForm(),
                search_form=SearchForm(snapshots=snapshots),
            )
        return super().change_view(request, object_id, form_url, extra)

    def upload_view(self, request, pk: int):
        kb = self._kb(request, pk, Role.EDITOR)
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            folder = form.cleaned_data["folder"].strip().strip("/")
            uploads = form.cleaned_data["files"]
            done, problems = [], []
            for upload in uploads:
                source = f"{folder}/{upload.name}" if folder else upload.name
                try:
                    result = document_upload(
                        knowledge_base=kb, source=source, data=upload_read(upload),
                        title=form.cleaned_data["title"] if len(uploads) == 1 else None,
                        tags=words(form.cleaned_data["tags"]), user=request.user,
                    )  # fmt: skip
                except KnowledgeError as exc:
                    if exc.field in ("tags", "title", "folder"):
                        form_error_add(form, exc)
                        break
                    problems.append(f"{upload.name}: {exc.message}")
                    continue
                state = "added" if result.created else "unchanged (the same file is already here)"
                done.append(f"{result.document.source}: {state}, {result.chunk_count} passages")
                for warning in result.document.warnings:
                    messages.warning(request, f"{result.document.source}: {warning}")
            for problem in problems:
                form.add_error("files", problem)
            if done:
                self.message_user(request, "; ".join(done), messages.SUCCESS)
            if not problems and not form.errors:
                return self._back(kb)
        return self._page(request, kb, "upload.html", f"Upload documents to {kb.name}", form=form)

    def document_view(self, request, pk: int, doc: int):
        kb = self._kb(request, pk, Role.VIEWER)
        document = get_object_or_404(Document, pk=doc, knowledge_base=kb)
        versions = kb.documents.filter(source=document.source).order_by("-version")
        return self._page(
            request, kb, "document.html", f"{document.source} (version {document.version})",
            document=document, chunks=document.chunks.order_by("ordinal"), versions=versions,
        )  # fmt: skip

    def remove_view(self, request, pk: int, doc: int):
        kb = self._kb(request, pk, Role.EDITOR)
        document = get_object_or_404(Document, pk=doc, knowledge_base=kb, is_current=True)
        if request.method != "POST":
            return self._page(request, kb, "remove.html", f"Remove {document.source}?", document=document)
        document_remove(document=document)
        self.message_user(
            request,
            f"{document.source} was removed. Publish to make searches stop finding it; earlier snapshots keep it.",
            messages.SUCCESS,
        )
        return self._back(kb)

    def publish_view(self, request, pk: int):
        kb = self._kb(request, pk, Role.PUBLISHER)
        if request.method != "POST":
            return self._back(kb)
        form = PublishForm(request.POST)
        note = form.cleaned_data["note"] if form.is_valid() else ""
        before = kb.labels.filter(name="latest").values_list("snapshot_id", flat=True).first()
        try:
            snapshot = knowledge_publish(knowledge_base=kb, user=request.user, note=note)
        except KnowledgeError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return self._back(kb)
        if snapshot.pk == before:
            self.message_user(request, f"Nothing changed since snapshot #{snapshot.number}: it stays the latest.")
        else:
            self.message_user(
                request,
                f"Published snapshot #{snapshot.number} ({snapshot.chunk_count} passages). Prompts that follow "
                "“latest” use it now; prompts pinned to a number keep theirs.",
                messages.SUCCESS,
            )
        return self._back(kb)

    def embed_view(self, request, pk: int):
        kb = self._kb(request, pk, Role.EDITOR)
        if request.method == "POST":
            if kb.embedding_provider_id and kb.embedding_model:
                embedding_enqueue(knowledge_base=kb)
                self.message_user(request, "The passages are being prepared for meaning-based search.")
            else:
                self.message_user(request, "Choose an embedding provider and model first.", messages.ERROR)
        return self._back(kb)

    def search_view(self, request, pk: int):
        kb = self._kb(request, pk, Role.VIEWER)
        snapshots = list(kb.snapshots.order_by("-number")[:200])
        form = SearchForm(request.GET or None, snapshots=snapshots)
        results, searched = None, None
        if request.GET and form.is_valid():
            data = form.cleaned_data
            try:
                snapshot_id = snapshot_resolve(
                    project_id=kb.project_id, knowledge_base=kb.name, snapshot=data["snapshot"]
                )
                results = knowledge_search(
                    project_id=kb.project_id, snapshot_id=snapshot_id, query=data["query"], top_k=data["top_k"],
                    mode=data["mode"], tags=words(data["tags"]),
                )  # fmt: skip
                searched = Snapshot.objects.get(pk=snapshot_id)
            except KnowledgeError as exc:
                form_error_add(form, exc, fallback="query")
        return self._page(
            request, kb, "search.html", f"Try a search in {kb.name}", form=form, results=results, searched=searched
        )

    def preview_view(self, request, pk: int):
        kb = self._kb(request, pk, Role.VIEWER)
        initial = {"chunk_size": kb.chunk_size, "chunk_overlap": kb.chunk_overlap}
        form = PreviewForm(request.POST or None, initial=initial)
        chunks = None
        if request.method == "POST" and form.is_valid():
            try:
                chunks = chunks_preview(
                    text=form.cleaned_data["text"], chunk_size=form.cleaned_data["chunk_size"],
                    chunk_overlap=form.cleaned_data["chunk_overlap"],
                )  # fmt: skip
            except KnowledgeError as exc:
                form_error_add(form, exc)
        shown = chunks[:PREVIEW_SHOWN] if chunks else chunks
        return self._page(
            request, kb, "preview.html", "Preview how text is cut into passages", form=form, chunks=shown,
            total=len(chunks or ()),
        )  # fmt: skip

    def compare_view(self, request, pk: int):
        kb = self._kb(request, pk, Role.VIEWER)
        snapshots = list(kb.snapshots.order_by("-number")[:200])
        numbers = {s.number: s for s in snapshots}
        old, new = request.GET.get("old", ""), request.GET.get("new", "")
        diff, error = None, ""
        if old.isdigit() and new.isdigit():
            if int(old) in numbers and int(new) in numbers:
                diff = snapshot_diff(old=numbers[int(old)], new=numbers[int(new)])
            else:
                error = "Choose two snapshots of this knowledge base."
        elif len(snapshots) >= 2:
            old, new = str(snapshots[1].number), str(snapshots[0].number)
            diff = snapshot_diff(old=snapshots[1], new=snapshots[0])
        return self._page(
            request, kb, "compare.html", f"What changed in {kb.name}", snapshots=snapshots, diff=diff,
            old=old, new=new, error=error,
        )  # fmt: skip
