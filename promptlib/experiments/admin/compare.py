"""The "Compare versions" page: a draft experiment of one template, prefilled from what it has.

The prompt comes from the template page (?template=…); its versions, its dataset and the checks its
data calls for are suggested (promptlib.batches.experiment_setup), metrics are picked by their plain
names, and every problem is shown at once. It then leads to the first batch on the test cases.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from promptlib.admin.base import form_error_add, scope_queryset, user_may
from promptlib.batches.experiment_setup import Comparison, comparison_create, comparison_suggest
from promptlib.batches.models import Dataset
from promptlib.batches.selectors_experiment import outcome_metric_names
from promptlib.core.errors import DomainError
from promptlib.core.models import Role
from promptlib.experiments.admin.forms import CompareForm
from promptlib.experiments.selectors import application_metric_labels
from promptlib.prompts.models import Template

PAGE = "admin/promptlib/experiment/compare.html"


def template_id_asked(request) -> int | None:
    """The template a page was opened for (?template=…), or chosen on it."""
    ref = request.POST.get("template") or request.GET.get("template") or ""
    return int(ref) if ref.isascii() and ref.isdigit() and len(ref) < 19 else None


def compare_view(model_admin, request):
    """The "Compare versions" page: a draft experiment of one template, prefilled from what it has."""
    if not user_may(request, Role.EDITOR):
        raise PermissionDenied
    templates = scope_queryset(Template.objects.all(), request, role=Role.EDITOR)
    template = templates.filter(pk=template_id_asked(request) or 0).first()
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Compare versions",
    }
    if template is None:  # first choose the prompt: its versions are what the form offers
        choices = templates.annotate(n=Count("versions")).filter(n__gte=2).order_by("title")
        return TemplateResponse(request, PAGE, {**context, "templates": choices})
    suggestion = comparison_suggest(template=template)
    datasets = (
        Dataset.objects.current()
        .filter(Q(template=template) | Q(template__isnull=True), project_id=template.project_id)
        .annotate(case_total=Count("cases"))
        .order_by("name")
    )
    initial = {
        "name": suggestion.name, "control": suggestion.control, "challenger": suggestion.challenger,
        "dataset": suggestion.dataset, "scorer_kinds": list(suggestion.scorer_kinds),
        "primary_metric": suggestion.primary_metric, "minimum_effect": suggestion.minimum_effect,
    }  # fmt: skip
    form = CompareForm(
        request.POST or None, initial=initial, template=template, datasets=datasets,
        suggestions=suggestion.suggestions, outcome_metrics=outcome_metric_names(project_ids=[template.project_id]),
        registered=application_metric_labels(project_ids=[template.project_id]),
    )  # fmt: skip
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        plan = Comparison(
            template=template, name=data["name"], control=data["control"], challenger=data["challenger"],
            dataset=data["dataset"], scorer_kinds=tuple(data["scorer_kinds"]),
            primary_metric=data["primary_metric"], guardrail_metrics=tuple(data["guardrail_metrics"]),
            minimum_effect=data["minimum_effect"], description=data["description"],
        )  # fmt: skip
        try:
            experiment = comparison_create(plan=plan, created_by=request.user)
        except DomainError as exc:
            form_error_add(form, exc)
        else:
            done = f"Experiment “{experiment.name}” created. Now run it on the test cases."
            model_admin.message_user(request, done, messages.SUCCESS)
            if plan.dataset is None:
                return redirect(reverse("admin:promptlib_experiment_change", args=[experiment.pk]))
            start = reverse("admin:promptlib_batch_start")
            return redirect(f"{start}?experiment={experiment.pk}&dataset={plan.dataset.pk}")
    context.update(
        template=template, form=form, subtitle=template.title, one_version=suggestion.control is None,
        add_dataset_url=reverse("admin:promptlib_dataset_add") + f"?template={template.pk}",
        advanced_url=reverse("admin:promptlib_experiment_add") + f"?template={template.pk}",
    )  # fmt: skip
    return TemplateResponse(request, PAGE, context)
