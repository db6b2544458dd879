"""Admin for experiments: created with their variants inline, run with start / pause / finish.

Editors create and edit drafts; starting, pausing and finishing needs the publisher role. Every
rule (one control, versions of this template, positive weights, one running experiment per
template, frozen variants once started) is the service's; the admin shows its messages.
"""

from __future__ import annotations

import functools

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import BaseInlineFormSet
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from promptlib.admin.base import ProjectListFilter, ProjectScopedAdmin, ProjectScopedInline, scope_queryset, user_may
from promptlib.batches.admin.review_pages import awaiting_review
from promptlib.batches.reviews import ReviewScope
from promptlib.batches.selectors_experiment import experiment_related, outcome_metric_names
from promptlib.core.models import Project, Role
from promptlib.experiments.admin.compare import compare_view, template_id_asked
from promptlib.experiments.admin.forms import MARGIN_FIELDS, MARGINS_HELP, ExperimentForm, VariantForm
from promptlib.experiments.margins import experiment_margins_set
from promptlib.experiments.models import Experiment, Variant
from promptlib.experiments.selectors import application_metric_labels
from promptlib.experiments.services import (
    TRANSITIONS,
    ExperimentError,
    VariantSpec,
    experiment_create,
    experiment_finish,
    experiment_pause,
    experiment_start,
    experiment_status_set,
    experiment_update,
    experiment_variants_set,
    variants_validate,
)
from promptlib.prompts.models import Version

Status = Experiment.Status
# The buttons of the change page per status, (status to ask for, button text), from the services'
# transitions; starting a paused experiment again reads "Resume".
STATUS_BUTTONS = {
    status: [
        (to, "Resume" if (status, to) == (Status.PAUSED, Status.RUNNING) else verb.capitalize())
        for to, (sources, verb, _done) in TRANSITIONS.items()
        if status in sources
    ]
    for status in Status
}
# What the status buttons' success message says each change did.
DONE = {to: done for to, (_sources, _verb, done) in TRANSITIONS.items()}


def experiment_links(experiment: Experiment) -> dict[str, str]:
    """Where a marketer goes from the experiment: batches, schedules, scorers, the dashboard."""
    ask = f"?experiment={experiment.pk}"
    only_this = f"?experiment__id__exact={experiment.pk}"
    return {
        "dashboard": reverse("promptlib_experiment_dashboard", args=[experiment.pk]),
        "run_batch": reverse("admin:promptlib_batch_start") + ask,
        "schedule": reverse("admin:promptlib_batchschedule_new") + ask,
        "batches": reverse("admin:promptlib_batch_changelist") + only_this,
        "schedules": reverse("admin:promptlib_batchschedule_changelist") + only_this,
        "scorers": reverse("admin:promptlib_scorerconfig_changelist") + only_this,
        "add_scorer": reverse("admin:promptlib_scorerconfig_add") + ask,
        "status": reverse("admin:promptlib_experiment_status", args=[experiment.pk]),
    }


def _specs(formset) -> list[VariantSpec]:
    return [
        VariantSpec(
            key=form.cleaned_data["key"],
            version=form.cleaned_data["version"],
            weight=form.cleaned_data["weight"],
            is_control=form.cleaned_data.get("is_control", False),
        )
        for form in formset.forms
        if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("version")
    ]


class VariantFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        experiment = self.instance
        if any(self.errors) or not experiment.template_id:
            return
        if experiment.pk and experiment.status != Experiment.Status.DRAFT:
            return  # read-only rows once started: nothing can change
        try:
            variants_validate(template=experiment.template, variants=_specs(self))
        except ExperimentError as exc:
            raise ValidationError([e.message for e in exc.errors or [exc]]) from exc  # every problem at once


class VariantInline(ProjectScopedInline):
    model = Variant
    form = VariantForm
    formset = VariantFormSet
    fields = ("key", "version", "weight", "is_control")
    extra = 2

    def get_extra(self, request, obj=None, **kwargs):
        return 2 if obj is None else 0

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        template_id = obj.template_id if obj is not None else template_id_asked(request)
        if template_id is not None and "version" in formset.form.base_fields:
            # Only this template's versions are offered; the service checks it in any case.
            field = formset.form.base_fields["version"]
            field.queryset = Version.objects.filter(template_id=template_id).select_related("template")
        return formset

    def _frozen(self, obj) -> bool:
        return obj is not None and obj.status != Experiment.Status.DRAFT

    def has_add_permission(self, request, obj=None):
        return not self._frozen(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not self._frozen(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._frozen(obj) and super().has_delete_permission(request, obj)


@admin.register(Experiment)
class ExperimentAdmin(ProjectScopedAdmin):
    empty_help = (
        "No experiments yet. To find out which of two versions of a prompt works better, save a second "
        "version of a template, then click “Compare two versions”."
    )
    change_list_template = "admin/promptlib/experiment/change_list.html"
    form = ExperimentForm
    inlines = (VariantInline,)
    list_display = ("name", "template", "project", "status", "variant_summary", "started_at", "created_at")
    list_select_related = ("template", "project")
    list_filter = (ProjectListFilter, "status")
    search_fields = ("name", "description", "template__slug")
    actions = ("start_experiments", "pause_experiments", "finish_experiments")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("variants__version")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None:
            projects = [obj.project_id]
        else:
            projects = scope_queryset(Project.objects.all(), request, role=self.edit_role).values("pk")
        form.outcome_metrics = outcome_metric_names(project_ids=projects)
        form.registered_metrics = application_metric_labels(project_ids=projects)
        return form

    # --- one page for everything about the experiment ----------------------------------------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        status = path("<int:pk>/status/", wrap(require_POST(self.status_view)), name="promptlib_experiment_status")
        compare = path("compare/", wrap(functools.partial(compare_view, self)), name="promptlib_experiment_compare")
        return [status, compare, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        experiment = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if experiment is not None:
            may_publish = user_may(request, Role.PUBLISHER, experiment.project_id)
            extra.update(
                related=experiment_related(experiment=experiment),
                experiment_links=experiment_links(experiment),
                may_run_batches=user_may(request, Role.EDITOR, experiment.project_id),
                awaiting_review=awaiting_review(
                    scope=ReviewScope(experiment_id=experiment.pk),
                    may_review=user_may(request, Role.EDITOR, experiment.project_id),
                ),
                status_buttons=STATUS_BUTTONS[experiment.status] if may_publish else [],
            )
        return super().change_view(request, object_id, form_url, extra)

    def status_view(self, request, pk: int):
        """The Start / Pause / Resume / Finish buttons of the change page (publishers)."""
        experiment = self.get_object(request, str(pk))
        if experiment is None:
            raise Http404("No such experiment.")
        target = request.POST.get("status", "")
        if target not in DONE:
            self.message_user(request, "Choose running, paused or finished.", messages.ERROR)
        else:
            service = functools.partial(experiment_status_set, status=target)
            self._run(request, Experiment.objects.filter(pk=experiment.pk), service, DONE[target])
        return redirect(reverse("admin:promptlib_experiment_change", args=[experiment.pk]))

    def get_fieldsets(self, request, obj=None):
        main = ("template", "name", "description", "primary_metric", "guardrail_metrics", "minimum_effect")
        # Margins are picked while a draft only: moving one once results are in would pick the verdict.
        margins = ("Guardrails: how much worse may each get?", {"fields": MARGIN_FIELDS, "description": MARGINS_HELP})
        if obj is None:
            return [(None, {"fields": main}), margins]
        # The bookkeeping a marketer rarely needs, folded away under the form.
        details = ("status", "started_at", "finished_at", "created_by", "salt")
        editable = [margins] if obj.status == Experiment.Status.DRAFT else []
        return [(None, {"fields": main}), *editable, ("Details", {"fields": details, "classes": ["collapse"]})]

    def get_readonly_fields(self, request, obj=None):
        fixed = ("status", "salt", "started_at", "finished_at", "created_by")
        if obj is None:
            return ()
        if obj.status != Experiment.Status.DRAFT:
            return ("template", "primary_metric", "guardrail_metrics", "minimum_effect", *fixed)
        return ("template", *fixed)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "template" and field is not None:
            field.queryset = scope_queryset(field.queryset, request, role=self.edit_role)
        return field

    def has_delete_permission(self, request, obj=None):
        # A running experiment is paused or finished first, so renders never lose it mid-request.
        if obj is not None and obj.status == Experiment.Status.RUNNING:
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description="Variants")
    def variant_summary(self, obj):
        return ", ".join(
            f"{v.key}{'*' if v.is_control else ''}: v{v.version.number} ×{v.weight}" for v in obj.variants.all()
        )

    # --- saving through the services ------------------------------------------------------
    def save_model(self, request, obj, form, change):
        if not user_may(request, self.edit_role, obj.template.project_id):
            raise PermissionDenied
        if change:
            data = form.cleaned_data
            experiment_update(
                experiment=obj,
                name=data.get("name", obj.name),
                description=data.get("description", obj.description),
                primary_metric=data.get("primary_metric"),
                guardrail_metrics=data.get("guardrail_metrics"),
                minimum_effect=data.get("minimum_effect"),
            )
            if obj.status == Experiment.Status.DRAFT:
                experiment_margins_set(experiment=obj, margins=form.margins)
        # A new experiment is created in save_related, once its variants are known.

    def save_related(self, request, form, formsets, change):
        variants_formset = next(f for f in formsets if f.model is Variant)
        specs = _specs(variants_formset)
        obj = form.instance
        if not change:
            data = form.cleaned_data
            created = experiment_create(
                template=data["template"],
                name=data["name"],
                description=data.get("description", ""),
                primary_metric=data["primary_metric"],
                guardrail_metrics=data["guardrail_metrics"],
                minimum_effect=data["minimum_effect"],
                variants=specs,
                created_by=request.user,
            )
            experiment_margins_set(experiment=created, margins=form.margins)
            # The admin goes on with the object it built (log entry, redirect): give it the row's identity.
            obj.pk, obj.project_id, obj.salt, obj.created_at = (
                created.pk,
                created.project_id,
                created.salt,
                created.created_at,
            )
        elif obj.status == Experiment.Status.DRAFT and variants_formset.has_changed():
            experiment_variants_set(experiment=obj, variants=specs)
        # The rows were written by the service, not formset.save(): the change log reads these.
        variants_formset.new_objects, variants_formset.changed_objects, variants_formset.deleted_objects = [], [], []

    # --- start / pause / finish (publishers) -------------------------------------------------
    def has_publish_permission(self, request):
        return user_may(request, Role.PUBLISHER)

    def _run(self, request, queryset, service, done: str):
        changed = 0
        for experiment in queryset.select_related("template"):
            if not user_may(request, Role.PUBLISHER, experiment.project_id):
                self.message_user(
                    request, f"{experiment.name}: you need the publisher role in its project.", messages.ERROR
                )
                continue
            try:
                service(experiment=experiment)
                changed += 1
            except ExperimentError as exc:
                self.message_user(request, exc.message, messages.ERROR)
        if changed:
            self.message_user(request, f"{changed} experiment(s) {done}.", messages.SUCCESS)

    @admin.action(description="Start (or resume) selected experiments", permissions=["publish"])
    def start_experiments(self, request, queryset):
        self._run(request, queryset, experiment_start, "started")

    @admin.action(description="Pause selected experiments", permissions=["publish"])
    def pause_experiments(self, request, queryset):
        self._run(request, queryset, experiment_pause, "paused")

    @admin.action(description="Finish selected experiments", permissions=["publish"])
    def finish_experiments(self, request, queryset):
        self._run(request, queryset, experiment_finish, "finished")
