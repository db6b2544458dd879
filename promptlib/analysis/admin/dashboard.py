"""The experiment dashboard: which version wins, with charts, batches, side by side, promotion, exports.

Views are wrapped with admin.site.admin_view (staff login) and look the experiment up among the
user's projects, so another project's experiment answers 404 like a missing one. Promoting needs
the publisher role (403 otherwise). Numbers come from promptlib.analysis (cached a few seconds).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from promptlib.admin.base import scope_queryset, user_may
from promptlib.analysis.admin.calibration import calibrate_view, present_calibration
from promptlib.analysis.admin.glossary import GLOSSARY
from promptlib.analysis.admin.present import STATE_TEXT, chart_payload, present_section, side_by_side
from promptlib.analysis.aggregates import COUNTED_BATCHES
from promptlib.analysis.exports import finetune_jsonl, results_csv
from promptlib.analysis.promotion import PromotionError, experiment_promote_winner, promotion_blocker
from promptlib.analysis.report import experiment_report_cached
from promptlib.batches.admin.review_pages import awaiting_review
from promptlib.batches.models import Batch, BatchItem
from promptlib.batches.reviews import ReviewScope
from promptlib.batches.services import OPEN
from promptlib.core.models import Role
from promptlib.experiments.margins import guardrail_margin
from promptlib.experiments.metrics import METRICS
from promptlib.experiments.models import Experiment

ACTIVE = OPEN  # a batch still writing its calls (preparing) is active too
ENDED_ITEMS = (BatchItem.Status.DONE, BatchItem.Status.FAILED, BatchItem.Status.CANCELLED)


def _experiment(request, pk: int) -> Experiment:
    queryset = scope_queryset(Experiment.objects.select_related("template", "project"), request)
    return get_object_or_404(queryset, pk=pk)


def _batch_progress(experiment: Experiment) -> list[dict]:
    """Running and pending batches with done / total, in one aggregate query."""
    rows = (
        Batch.objects.filter(experiment=experiment, status__in=ACTIVE)
        .annotate(ended=Count("items", filter=Q(items__status__in=ENDED_ITEMS)))
        .order_by("-created_at")
        .values("pk", "status", "total", "ended", "created_at")
    )
    return [
        {
            "id": r["pk"],
            "status": r["status"],
            "total": r["total"],
            "done": r["ended"],
            "percent": round(100 * r["ended"] / r["total"], 1) if r["total"] else 0.0,
        }
        for r in rows
    ]


@require_GET
def dashboard_view(request, pk: int):
    experiment = _experiment(request, pk)
    report = experiment_report_cached(experiment=experiment)
    can_promote = user_may(request, Role.PUBLISHER, experiment.project_id)
    sections = [present_section(s, report) for s in (report.production, report.offline)]
    past = (
        Batch.objects.filter(experiment=experiment)
        .exclude(status__in=ACTIVE)
        .select_related("dataset", "schedule")
        .order_by("-created_at")[:20]
    )
    context = {
        **admin.site.each_context(request),
        "title": f"Which version wins: {experiment.name}",
        "primary_metric_label": metric_label(experiment.primary_metric),
        "guardrail_labels": [
            f"{metric_label(g)} (at most {guardrail_margin(experiment=experiment, metric=g).text} worse)"
            for g in experiment.guardrail_metrics or []
        ],
        "glossary": GLOSSARY,
        "opts": Experiment._meta,
        "experiment": experiment,
        "report": report,
        "sections": sections,
        "headline_state": STATE_TEXT[report.verdict.state],
        "charts": chart_payload(report),
        "promote_blocker": promotion_blocker(experiment=experiment, report=report),
        "can_promote": can_promote,
        "is_publisher": can_promote,
        "running_batches": _batch_progress(experiment),
        "past_batches": past,
        "counted_statuses": COUNTED_BATCHES,
        **side_by_side(experiment, report, case_id=request.GET.get("case"), show=request.GET.get("show", "all")),
        "urls": _urls(experiment),
        "awaiting_review": awaiting_review(
            scope=ReviewScope(experiment_id=experiment.pk),
            may_review=user_may(request, Role.EDITOR, experiment.project_id),
        ),
        "calibration": present_calibration(report.calibration),
    }
    return TemplateResponse(request, "admin/promptlib/experiment_dashboard.html", context)


def metric_label(name: str) -> str:
    """ "Task success" for task_success_rate; an outcome your application reports keeps its own name."""
    info = METRICS.get(name)
    return info.label if info else name


def _urls(experiment: Experiment) -> dict[str, str]:
    names = ("dashboard", "progress", "promote", "results_csv", "finetune_jsonl")
    urls = {name: reverse(f"promptlib_experiment_{name}", args=[experiment.pk]) for name in names}
    urls["change"] = reverse("admin:promptlib_experiment_change", args=[experiment.pk])
    urls["template"] = reverse("admin:promptlib_template_change", args=[experiment.template_id])
    return urls


@require_GET
def progress_view(request, pk: int):
    experiment = _experiment(request, pk)
    return JsonResponse({"batches": _batch_progress(experiment)})


def promote_view(request, pk: int):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    experiment = _experiment(request, pk)
    if not user_may(request, Role.PUBLISHER, experiment.project_id):
        raise PermissionDenied
    try:
        promotion = experiment_promote_winner(
            experiment=experiment,
            actor=request.user,
            override=request.POST.get("override") == "on",
            reason=request.POST.get("reason", ""),
            variant_key=request.POST.get("variant", ""),
        )
    except PromotionError as exc:
        messages.error(request, exc.message)
    else:
        kind = "Override recorded: " if promotion.override else ""
        messages.success(
            request,
            f"{kind}“production” now points at version {promotion.variant.version.number} "
            f"(variant {promotion.variant.key}); the experiment is finished.",
        )
    return HttpResponseRedirect(reverse("promptlib_experiment_dashboard", args=[experiment.pk]))


def _download(chunks, *, filename: str, content_type: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
def results_csv_view(request, pk: int):
    experiment = _experiment(request, pk)
    return _download(
        results_csv(experiment=experiment),
        filename=f"{slugify(experiment.name) or 'experiment'}-results.csv",
        content_type="text/csv; charset=utf-8",
    )


@require_GET
def finetune_jsonl_view(request, pk: int):
    experiment = _experiment(request, pk)
    report = experiment_report_cached(experiment=experiment)
    winner_id = report.winner.id if report.winner else None
    return _download(
        finetune_jsonl(experiment=experiment, winner_id=winner_id),
        filename=f"{slugify(experiment.name) or 'experiment'}-finetune.jsonl",
        content_type="application/jsonl; charset=utf-8",
    )


def _wrap(view):
    return admin.site.admin_view(view)


# Mounted in config/urls.py before the admin's own URLs (admin/promptlib/experiment/<pk>/dashboard/…).
urlpatterns = [
    path("", _wrap(dashboard_view), name="promptlib_experiment_dashboard"),
    path("progress/", _wrap(progress_view), name="promptlib_experiment_progress"),
    path("promote/", _wrap(promote_view), name="promptlib_experiment_promote"),
    path("calibrate/", _wrap(calibrate_view), name="promptlib_experiment_calibrate"),
    path("results.csv", _wrap(results_csv_view), name="promptlib_experiment_results_csv"),
    path("finetune.jsonl", _wrap(finetune_jsonl_view), name="promptlib_experiment_finetune_jsonl"),
]
