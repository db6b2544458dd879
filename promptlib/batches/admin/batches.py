"""Batches in the admin: start one, watch live progress, cancel, re-run failures, review outputs, schedule."""

from __future__ import annotations

from typing import get_args

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from promptlib.admin.base import ProjectListFilter, ProjectScopedAdmin, form_error_add, project_ids_for, user_may
from promptlib.admin.display import named_values
from promptlib.batches.admin import review_pages
from promptlib.batches.admin.forms import BatchSettingsForm
from promptlib.batches.admin.present import ERROR_HINTS, batch_title, progress_for_page, variant_table
from promptlib.batches.calls import ITEM_ERROR_KINDS
from promptlib.batches.models import Batch, BatchItem
from promptlib.batches.reviews import ReviewScope
from promptlib.batches.selectors import batch_error_summary, batch_progress, batch_variant_metrics, ref_id
from promptlib.batches.services import BatchError, batch_cancel, batch_create, batch_rerun_failed, batch_start
from promptlib.core.models import Role
from promptlib.providers.base import ErrorKind

START_INTRO = (
    "A batch is a test run before real users see a change: every case of the dataset is sent to each version "
    "in the experiment, and each answer is scored. Results appear on the batch's page as they come in."
)
ERROR_SHOWN = 120  # characters of an item's error in the answers list (all of it on hover)


def _project_ids(request) -> list[int] | None:
    return None if request.user.is_superuser else project_ids_for(request, Role.EDITOR)


class ReadOnlyMixin:
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Batch)
class BatchAdmin(ReadOnlyMixin, ProjectScopedAdmin):
    empty_help = (
        "No batches yet. A batch is a test run: every case of a dataset goes through each version of an "
        "experiment. Start one with “Start a batch” or from an experiment's page."
    )
    list_display = ("id", "experiment", "dataset", "status", "total", "schedule", "created_at", "finished_at")
    list_select_related = ("experiment", "dataset", "schedule")
    list_filter = (ProjectListFilter, "status")
    search_fields = ("experiment__name", "dataset__name")
    change_form_template = "admin/promptlib/batch/change_form.html"
    # Preparing's bookkeeping (the progress box says it); the tags as words (tags_text).
    exclude = ("variant_ids", "start_when_prepared", "tags")
    change_list_template = "admin/promptlib/batch/change_list.html"
    readonly_fields = (
        *("experiment", "dataset", "provider", "model", "repeats", "tags_text", "use_cache", "status", "schedule"),
        *("total", "prepared", "error", "created_by", "created_at", "started_at", "finished_at"),
    )

    @admin.display(description="Only cases tagged")
    def tags_text(self, obj):
        return ", ".join(obj.tags or []) or "all cases"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("start/", wrap(self.start_view), name="promptlib_batch_start"),
            path("<int:pk>/progress.json", wrap(self.progress_view), name="promptlib_batch_progress"),
            path("<int:pk>/cancel/", wrap(require_POST(self.cancel_view)), name="promptlib_batch_cancel"),
            path("<int:pk>/rerun-failed/", wrap(require_POST(self.rerun_view)), name="promptlib_batch_rerun"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        batch = self.get_object(request, object_id)
        extra = extra_context or {}
        if batch is not None:
            extra.update(
                progress=progress_for_page(batch_progress(batch=batch)),
                error_summary=batch_error_summary(batch=batch),
                variant_table=variant_table(
                    batch_variant_metrics(batch=batch),
                    judged=batch.experiment.scorers.filter(kind="llm_judge").exists(),
                ),
                may_run=user_may(request, Role.EDITOR, batch.project_id),
                subtitle=batch_title(batch),
                dashboard_url=reverse("promptlib_experiment_dashboard", args=[batch.experiment_id]),
                awaiting_review=review_pages.awaiting_review(
                    scope=ReviewScope(batch_id=batch.pk), may_review=user_may(request, Role.EDITOR, batch.project_id)
                ),
            )
        return super().change_view(request, object_id, form_url, extra)

    def _batch(self, request, pk: int, role: str = Role.VIEWER) -> Batch:
        batch = get_object_or_404(self.get_queryset(request), pk=pk)
        if not user_may(request, role, batch.project_id):
            raise PermissionDenied
        return batch

    def progress_view(self, request, pk: int):
        return JsonResponse(progress_for_page(batch_progress(batch=self._batch(request, pk))))

    def cancel_view(self, request, pk: int):
        batch = self._batch(request, pk, Role.EDITOR)
        if request.POST.get("confirmed") != "on":
            return self._cancel_confirm(request, batch)
        try:
            batch_cancel(batch=batch)
            self.message_user(request, "Batch cancelled; finished results are kept.", messages.SUCCESS)
        except BatchError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        return redirect(reverse("admin:promptlib_batch_change", args=[pk]))

    def _cancel_confirm(self, request, batch: Batch):
        progress = batch_progress(batch=batch)
        waiting = progress["total"] - progress["done"] - progress["failed"]
        here = reverse("admin:promptlib_batch_change", args=[batch.pk])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": batch,
            "title": f"Cancel batch {batch.pk}?",
            "consequence": f"The {waiting} call(s) still waiting are not made. The {progress['done']} answer(s) "
            "already in are kept and count in the results. A cancelled batch cannot be resumed; you can start "
            "a new one.",
            "button": "Yes, cancel the batch",
            "fields": {},
            "cancel_url": here,
        }
        return TemplateResponse(request, "admin/promptlib/confirm.html", context)

    def rerun_view(self, request, pk: int):
        batch = self._batch(request, pk, Role.EDITOR)
        try:
            count = batch_rerun_failed(batch=batch)
            self.message_user(request, f"Re-running {count} failed call(s).", messages.SUCCESS)
        except BatchError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        return redirect(reverse("admin:promptlib_batch_change", args=[pk]))

    def start_view(self, request):
        if not user_may(request, Role.EDITOR):
            raise PermissionDenied
        initial = {
            key: ref_id(request.GET[key]) for key in ("experiment", "dataset") if ref_id(request.GET.get(key, ""))
        }
        form = BatchSettingsForm(request.POST or None, initial=initial, project_ids=_project_ids(request))
        if request.method == "POST" and form.is_valid():
            data = form.settings()
            if not user_may(request, Role.EDITOR, data.experiment.project_id):
                raise PermissionDenied
            try:
                batch = batch_start(batch=batch_create(settings=data, created_by=request.user))
            except BatchError as exc:
                form_error_add(form, exc)
            else:
                if batch.status == Batch.Status.PREPARING:
                    text = f"Batch {batch.pk} is writing its {batch.total:,} calls; it starts once they are written."
                else:
                    text = f"Batch {batch.pk} started: {batch.total:,} calls."
                self.message_user(request, text, messages.SUCCESS)
                return redirect(reverse("admin:promptlib_batch_change", args=[batch.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
                   "title": "Start a batch", "intro": START_INTRO}  # fmt: skip
        return TemplateResponse(request, "admin/promptlib/batch/start.html", context)


class ErrorKindFilter(admin.SimpleListFilter):
    """Answers by kind of error: the providers' kinds (auth, timeout, …) and the batch's own (render, internal).

    Listed from code rather than the rows, which would read every answer on each page; any kind
    still filters when named in the URL (the batch page's error summary links to its kinds).
    """

    title = "kind of error"
    parameter_name = "error_kind"

    def lookups(self, request, model_admin):
        return [(kind, kind) for kind in sorted({*get_args(ErrorKind), *ITEM_ERROR_KINDS})]

    def queryset(self, request, queryset):
        return queryset.filter(error_kind=self.value()) if self.value() else queryset


@admin.register(BatchItem)
class BatchItemAdmin(ReadOnlyMixin, ProjectScopedAdmin):
    empty_help = "No answers yet: each answer of a batch shows up here while the batch runs."
    project_path = "batch__project"
    # The Review link second, so a narrow screen shows it without scrolling the table.
    list_display = ("id", "review_link", "batch_column", "variant", "case", "repeat", "status", "success", "attempts",
                    "latency_ms", "error_column")  # fmt: skip
    list_select_related = ("batch", "variant", "case", "case__dataset")
    list_filter = ("status", ErrorKindFilter, "success", "schema_passed")
    search_fields = ("=batch__id",)
    readonly_fields = [*(f.name for f in BatchItem._meta.fields), "what_went_wrong", "case_input", "score_lines"]
    # The item page: what went wrong first (when it did), then the answer, then the internals a developer
    # reads when debugging the runner, folded away under "Details".
    ANSWER = ("batch", "variant", "case", "case_input", "repeat", "status", "output", "success", "schema_passed",
              "score_lines")  # fmt: skip
    COST = ("latency_ms", "cost_usd", "input_tokens", "output_tokens", "attempts", "cached")
    DETAILS = ("model", "claim_token", "claimed_at", "lease_until", "enqueued_at", "not_before", "finished_at",
               "attempt_log", "judge_cost_usd", "error_kind", "error", "scores")  # fmt: skip

    def get_fieldsets(self, request, obj=None):
        sets = [
            ("The answer", {"fields": self.ANSWER}),
            ("Time and cost", {"fields": self.COST}),
            ("Details", {"fields": self.DETAILS, "classes": ("collapse",)}),
        ]
        if obj is not None and obj.error:
            sets.insert(0, ("What went wrong", {"fields": ("what_went_wrong",), "classes": ("promptlib-item-error",)}))
        return sets

    @admin.display(description="Error")
    def what_went_wrong(self, obj):
        hint = ERROR_HINTS.get(obj.error_kind, "")
        return format_html('<p class="errornote" id="item-error"><strong>{}</strong>: {}</p>{}',
                           obj.error_kind or "error", obj.error,
                           format_html('<p id="item-error-hint">{}</p>', hint) if hint else "")  # fmt: skip

    @admin.display(description="Inputs")
    def case_input(self, obj):
        pairs = named_values(obj.case.input)
        return format_html_join("", "<div><strong>{}</strong>: {}</div>", pairs) or "—"

    @admin.display(description="Checks")
    def score_lines(self, obj):
        scores = obj.scores if isinstance(obj.scores, list) else []
        verdict = {True: "passed", False: "failed", None: "no verdict"}
        rows = ((s.get("metric", "?"), verdict.get(s.get("passed"), "—"), s.get("detail", "")) for s in scores
                if isinstance(s, dict))  # fmt: skip
        return format_html_join("", "<div><strong>{}</strong>: {} — {}</div>", rows) or "—"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("review/", wrap(self.review_queue_view), name="promptlib_review_queue"),
            path("<int:pk>/review/", wrap(self.review_view), name="promptlib_batchitem_review"),
            *super().get_urls(),
        ]

    @admin.display(description="Batch", ordering="batch_id")
    def batch_column(self, obj):
        return f"Batch {obj.batch_id}"

    @admin.display(description="Error", ordering="error_kind")
    def error_column(self, obj):
        if not obj.error:
            return "—"
        text = obj.error if len(obj.error) <= ERROR_SHOWN else obj.error[: ERROR_SHOWN - 1] + "…"
        return format_html('<span title="{}">{}: {}</span>', obj.error, obj.error_kind or "error", text)

    @admin.display(description="Review")
    def review_link(self, obj):
        if obj.status != BatchItem.Status.DONE:
            return "—"
        return format_html('<a href="{}">Review</a>', reverse("admin:promptlib_batchitem_review", args=[obj.pk]))

    def review_view(self, request, pk: int):
        return review_pages.review_view(self, request, pk)

    def review_queue_view(self, request):
        return review_pages.queue_view(self, request)
