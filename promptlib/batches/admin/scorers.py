"""Scorers in the admin: each kind of check asks for its own options by form, and can be tried on a sample answer.

The options of every kind are on the form at once (promptlib.scorers.fields says how each is asked);
admin.js shows only those of the chosen kind, and only those are read when the form is saved.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, JsonResponse
from django.urls import path
from django.utils.html import format_html, format_html_join

from promptlib.admin.base import ProjectListFilter, ProjectScopedAdmin, form_error_add, project_ids_for, user_may
from promptlib.batches.models import ScorerConfig
from promptlib.core.jsonvalues import MAX_INT
from promptlib.core.models import Role
from promptlib.providers.models import ProviderConfig
from promptlib.scorers import SCORER_KINDS, ScoreInput, ScorerError, kind_choices, scorer_for
from promptlib.scorers.fields import FORM_FIELDS, OptionField, field_value_to_option, option_to_field_value

SAMPLE_MAX = 20_000  # characters of a sample answer tried on the page


def field_name(kind: str, option: str) -> str:
    return f"opt_{kind}__{option}"


def _form_field(kind: str, spec: OptionField) -> forms.Field:
    default = scorer_for(kind).options.get(spec.option)
    common = {"label": spec.label, "help_text": spec.help, "required": False}
    if spec.input == "bool":
        return forms.BooleanField(initial=bool(default), **common)
    if spec.input == "number":
        return forms.FloatField(initial=default, min_value=0, **common)
    if spec.input == "choice":
        return forms.ChoiceField(choices=spec.choices, initial=default, **common)
    if spec.input == "provider":
        return forms.ChoiceField(choices=[], **common)  # the user's providers, filled in per request
    if spec.input in ("textarea", "lines"):
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 60}), initial=default, **common)
    return forms.CharField(initial=default, max_length=2000, **common)


def _kind_help() -> str:
    lines = format_html_join(
        "", "<li><strong>{}</strong>: {}</li>", ((k.label, k.description) for k in SCORER_KINDS.values())
    )
    return format_html('What the check looks at:<ul class="promptlib-kinds">{}</ul>', lines)


def _options_fields() -> dict[str, forms.Field]:
    return {
        field_name(kind, spec.option): _form_field(kind, spec) for kind, specs in FORM_FIELDS.items() for spec in specs
    }


class _ScorerOptionsBase(forms.Form):
    kind = forms.ChoiceField(choices=kind_choices(), label="Kind of check", help_text=_kind_help())

    def __init__(self, *args, project_ids: list[int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        providers = ProviderConfig.objects.order_by("name")
        if project_ids is not None:
            providers = providers.filter(project_id__in=project_ids)
        names = sorted(set(providers.values_list("name", flat=True)))
        for kind, specs in FORM_FIELDS.items():
            for spec in specs:
                if spec.input == "provider":
                    self.fields[field_name(kind, spec.option)].choices = [("", "—"), *((n, n) for n in names)]

    def options(self) -> dict:
        """The chosen kind's options from the form; a missing required one is a form error."""
        kind = self.cleaned_data.get("kind")
        config = {}
        for spec in FORM_FIELDS.get(kind, ()):
            name = field_name(kind, spec.option)
            value = field_value_to_option(spec, self.cleaned_data.get(name))
            if spec.required and value in ("", None, []):
                self.add_error(name, "Fill this in for this kind of check.")
            config[spec.option] = value
        return config

    def option_error(self, exc: ScorerError) -> None:
        kind = self.cleaned_data.get("kind")
        name = field_name(kind, exc.field or "")
        if name in self.fields:
            self.add_error(name, exc.message)
        else:
            form_error_add(self, exc)


# The kind and its options, without the experiment: enough to try a check on a sample answer. One field
# per kind and option (e.g. opt_regex__pattern), made from promptlib.scorers.fields.
ScorerOptionsForm = type("ScorerOptionsForm", (_ScorerOptionsBase,), _options_fields())


class ScorerConfigForm(ScorerOptionsForm, forms.ModelForm):
    # The database's integer range on every backend (SQLite would take any 64-bit number).
    order = forms.IntegerField(min_value=0, max_value=MAX_INT, initial=0, label="Order",
                               help_text="Checks run in this order (1 first).")  # fmt: skip

    class Meta:
        model = ScorerConfig
        fields = ("experiment", "kind", "name", "order", "counts_for_success")
        labels = {"name": "Name in the results", "counts_for_success": "Counts for task success"}
        help_texts = {
            "name": "A short name without spaces, e.g. category_match.",
            "counts_for_success": "Tick if an answer must pass this check to count as a success.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance
        if instance.pk and instance.kind in FORM_FIELDS:
            for spec in FORM_FIELDS[instance.kind]:
                if spec.option in instance.config:
                    self.initial[field_name(instance.kind, spec.option)] = option_to_field_value(
                        spec, instance.config[spec.option]
                    )

    def clean(self):
        data = super().clean()
        if not data.get("kind") or not data.get("name"):
            return data
        options = self.options()
        if self.errors:
            return data
        try:
            cleaned = scorer_for(data["kind"]).validate_config({**options, "name": data["name"]})
        except ScorerError as exc:
            self.option_error(exc)
        else:
            cleaned.pop("name")
            # Options of kinds the form does not ask for (e.g. a schema set through the API) are kept.
            self.instance.config = {**(self.instance.config if self.instance.kind == data["kind"] else {}), **cleaned}
        return data


def scorer_try(*, kind: str, options: dict, sample: str, expected: str) -> dict:
    """The check's verdict on one sample answer, as the page shows it."""
    if SCORER_KINDS[kind].needs_review:
        return {"ok": True, "passed": None, "detail": "A person reviews each answer; nothing is checked automatically."}
    if SCORER_KINDS[kind].uses_judge:
        return {"ok": True, "passed": None, "detail": "The AI grader is asked during a batch run (it costs a call)."}
    score = scorer_for(kind).score(
        ScoreInput(output=sample, case_input={}, expected_output=expected or None), {**options, "name": kind}
    )
    return {"ok": True, "passed": score.passed, "value": score.value, "detail": score.detail}


class ScorerKindFilter(admin.SimpleListFilter):
    title = "kind of check"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return kind_choices()

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() else queryset


@admin.register(ScorerConfig)
class ScorerConfigAdmin(ProjectScopedAdmin):
    empty_help = (
        "No scorers yet. A scorer checks every answer of a batch automatically (right category, valid "
        "format…). Add one from an experiment's page with “Add a scorer”."
    )
    project_path = "experiment__project"
    form = ScorerConfigForm
    list_display = ("name", "kind_label", "experiment", "order", "counts_for_success")
    list_select_related = ("experiment",)
    list_filter = (ProjectListFilter, ScorerKindFilter)
    change_form_template = "admin/promptlib/scorerconfig/change_form.html"

    def get_fieldsets(self, request, obj=None):
        options = [field_name(kind, spec.option) for kind, specs in FORM_FIELDS.items() for spec in specs]
        return [
            (None, {"fields": ("experiment", "kind", "name")}),
            ("Options of this check", {"fields": options, "classes": ("promptlib-scorer-options",)}),
            (None, {"fields": ("order", "counts_for_success")}),
        ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        ids = None if request.user.is_superuser else project_ids_for(request, Role.VIEWER)

        class ScopedForm(form_class):
            def __init__(self, *args, **kw):
                super().__init__(*args, project_ids=ids, **kw)

        return ScopedForm

    @admin.display(description="Kind of check", ordering="kind")
    def kind_label(self, obj):
        kind = SCORER_KINDS.get(obj.kind)
        return kind.label if kind else obj.kind

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("try/", wrap(self.try_view), name="promptlib_scorerconfig_try"), *super().get_urls()]

    def try_view(self, request):
        """POST kind, its options, sample (and expected): JSON {ok, passed, detail} or {ok: false, errors}."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not user_may(request, Role.VIEWER):
            raise PermissionDenied
        ids = None if request.user.is_superuser else project_ids_for(request, Role.VIEWER)
        form = ScorerOptionsForm(request.POST, project_ids=ids)
        sample = request.POST.get("sample", "")[:SAMPLE_MAX]
        expected = request.POST.get("expected", "")[:SAMPLE_MAX]
        options = form.options() if form.is_valid() else {}
        if form.is_valid():  # options() puts a missing required option on the form
            kind = form.cleaned_data["kind"]
            try:
                scorer_for(kind).validate_config(options)
                return JsonResponse(scorer_try(kind=kind, options=options, sample=sample, expected=expected))
            except ScorerError as exc:
                form.option_error(exc)
        errors = [
            {"field": name, "label": str(form.fields[name].label) if name in form.fields else "", "message": m}
            for name, messages in form.errors.items()
            for m in messages
        ]
        return JsonResponse({"ok": False, "errors": errors}, status=400)
