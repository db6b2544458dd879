"""The review queue and the review page: thin views over promptlib.batches.reviews.

The queue lists the answers awaiting review of one batch or one experiment (?batch=… / ?experiment=…);
the review page shows one answer with what the reviewer needs beside it (the scorer's instructions, the
case's inputs, the expected answer), says at once when the answer was reviewed already, and after a
verdict opens the next answer of the same queue.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from promptlib.admin.base import project_ids_for, user_may
from promptlib.admin.display import named_values
from promptlib.batches.admin.forms import ReviewForm
from promptlib.batches.models import Batch, BatchItem
from promptlib.batches.reviews import (
    ReviewError,
    ReviewScope,
    review_next,
    review_page_facts,
    review_queue,
    review_scope_parse,
    review_seconds,
    review_submit,
    review_timer_start,
)
from promptlib.core.models import Role
from promptlib.experiments.models import Experiment

QUEUE_SHOWN = 200  # answers listed on the queue page; the review page walks them all
EXCERPT = 160  # characters of an answer in the queue


def _project_ids(request) -> list[int] | None:
    return None if request.user.is_superuser else project_ids_for(request, Role.EDITOR)


def review_url(item_id: int, scope: ReviewScope) -> str:
    return reverse("admin:promptlib_batchitem_review", args=[item_id]) + scope.query


def queue_url(scope: ReviewScope) -> str:
    return reverse("admin:promptlib_review_queue") + scope.query


def awaiting_review(*, scope: ReviewScope, may_review: bool) -> dict:
    """What the small "awaiting review" box shows (admin/promptlib/_awaiting_review.html)."""
    queue = review_queue(scope=scope)
    count = queue.count()
    first = queue.first() if count and may_review else None
    return {
        "count": count,
        "queue_url": queue_url(scope),
        "start_url": review_url(first.pk, scope) if first else "",
        "may_review": may_review,
    }


def _scope_title(scope: ReviewScope, project_ids: list[int] | None) -> str:
    if scope.batch_id:
        batch = Batch.objects.filter(pk=scope.batch_id)
        batch = batch.filter(project_id__in=project_ids) if project_ids is not None else batch
        return f"batch {scope.batch_id}" if batch.exists() else ""
    if scope.experiment_id:
        experiment = Experiment.objects.filter(pk=scope.experiment_id)
        experiment = experiment.filter(project_id__in=project_ids) if project_ids is not None else experiment
        name = experiment.values_list("name", flat=True).first()
        return f"experiment “{name}”" if name else ""
    return "every experiment"


def queue_view(model_admin, request):
    project_ids = _project_ids(request)
    scope = review_scope_parse(batch=request.GET.get("batch"), experiment=request.GET.get("experiment"))
    where = _scope_title(scope, project_ids)
    queue = review_queue(scope=scope, project_ids=project_ids) if where else BatchItem.objects.none()
    count = queue.count()
    rows = [
        {
            "item": item,
            "url": review_url(item.pk, scope),
            "excerpt": item.output if len(item.output) <= EXCERPT else item.output[: EXCERPT - 1] + "…",
        }
        for item in queue[:QUEUE_SHOWN]
    ]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Answers to review",
        "where": where,
        "count": count,
        "rows": rows,
        "shown": len(rows),
        "start_url": rows[0]["url"] if rows else "",
        "scope": scope,
    }
    return TemplateResponse(request, "admin/promptlib/batch/review_queue.html", context)


def review_view(model_admin, request, pk: int):
    queryset = model_admin.get_queryset(request).select_related("case", "variant", "batch")
    item = get_object_or_404(queryset, pk=pk)
    if not user_may(request, Role.EDITOR, item.batch.project_id):
        raise PermissionDenied
    scope = review_scope_parse(batch=request.GET.get("batch"), experiment=request.GET.get("experiment"))
    if not scope.query:  # opened from the answers list: walk the answer's own batch
        scope = ReviewScope(batch_id=item.batch_id)
    project_ids = _project_ids(request)
    facts = review_page_facts(item=item, reviewer=request.user)
    initial = {"opened": review_timer_start(result_id=item.pk), "edited_output": item.output}
    form = ReviewForm(request.POST or None, initial=initial)
    if request.method == "POST" and facts.mine is None and form.is_valid():
        data = form.cleaned_data
        try:
            review_submit(
                result=item,
                reviewer=request.user,
                approved=data["decision"] == "approve",
                edited_output=data["edited_output"],
                seconds=review_seconds(token=data["opened"], result_id=item.pk),
            )
        except ReviewError as exc:
            form.add_error(None, exc.message)
        else:
            model_admin.message_user(request, f"Review of answer {item.pk} saved.", messages.SUCCESS)
            nxt = review_next(scope=scope, after_id=item.pk, project_ids=project_ids)
            if nxt is not None:
                return redirect(review_url(nxt.pk, scope))
            model_admin.message_user(request, "Every answer in this queue is reviewed.", messages.INFO)
            return redirect(queue_url(scope))
    left = review_queue(scope=scope, project_ids=project_ids).exclude(pk=item.pk).count()
    following = review_next(scope=scope, after_id=item.pk, project_ids=project_ids)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "form": form,
        "item": item,
        "title": f"Review answer {item.pk}",
        "facts": facts,
        "input_pairs": named_values(item.case.input),
        "expected_pairs": named_values(item.case.expected_fields),
        "next_url": review_url(following.pk, scope) if following else "",
        "left": left,
        "queue_url": queue_url(scope),
        "scope": scope,
    }
    return TemplateResponse(request, "admin/promptlib/batch/review.html", context)
