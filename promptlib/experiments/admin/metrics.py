"""Admin for application metrics: a marketer says once what a metric means and whether up is good news."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from promptlib.admin.base import ProjectListFilter, ProjectScopedAdmin, form_error_add, scope_queryset
from promptlib.batches.selectors_experiment import outcome_metric_names
from promptlib.core.models import Project
from promptlib.experiments.admin.forms import MetricNameInput
from promptlib.experiments.app_metrics import ApplicationMetricError, application_metric_validate
from promptlib.experiments.models import ApplicationMetric


class ApplicationMetricForm(forms.ModelForm):
    # Set by the admin: names applications already report, offered as you type.
    outcome_metrics: list[str] = []

    class Meta:
        model = ApplicationMetric
        fields = ("project", "name", "label", "direction", "kind", "unit", "minimum_effect")
        widgets = {"direction": forms.RadioSelect, "kind": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "name" in self.fields:
            self.fields["name"].widget = MetricNameInput(names=self.outcome_metrics)

    def clean(self):
        cleaned = super().clean()
        needed = ("name", "label", "direction", "kind")
        if all(k in cleaned for k in needed):
            try:
                application_metric_validate(
                    name=cleaned["name"],
                    label=cleaned["label"],
                    direction=cleaned["direction"],
                    kind=cleaned["kind"],
                    unit=cleaned.get("unit") or "",
                    minimum_effect=cleaned.get("minimum_effect"),
                )
            except ApplicationMetricError as exc:
                form_error_add(self, exc)
        return cleaned


@admin.register(ApplicationMetric)
class ApplicationMetricAdmin(ProjectScopedAdmin):
    form = ApplicationMetricForm
    list_display = ("label", "name", "direction", "kind", "unit", "project")
    list_filter = (ProjectListFilter, "direction")
    search_fields = ("name", "label")
    empty_help = (
        "Metrics your application reports as outcomes (conversions, complaints, refunds…). Register each one "
        "with whether higher or lower is better: until then it is shown on experiment pages but never names a winner."
    )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        projects = [obj.project_id] if obj else scope_queryset(Project.objects.all(), request, role=self.edit_role)
        form.outcome_metrics = outcome_metric_names(project_ids=projects if obj else projects.values("pk"))
        return form
