"""Datasets in the admin: cases inline, import from a CSV/JSONL upload (all rows or none), export."""

from __future__ import annotations

from functools import partial

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, Max, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from promptlib.admin.base import ProjectListFilter, ProjectScopedAdmin, ProjectScopedInline, scope_queryset, user_may
from promptlib.batches.admin.forms import tags_from_text
from promptlib.batches.dataset_types import HOW_TO_WRITE, cell_text, cell_value
from promptlib.batches.datasets import (
    EXPECTED_PREFIX,
    FORMATS,
    DatasetError,
    cases_export,
    cases_import,
    dataset_runs,
    dataset_variables,
    dataset_version_for_edit,
)
from promptlib.batches.expected_fields import ExpectedField, dataset_expected_fields
from promptlib.batches.models import Dataset, DatasetCase
from promptlib.core.models import Role

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# (label, help) of each case column, in words a marketer uses.
CASE_LABELS = {
    "input": (
        "Input values",
        'The template\'s variables for this case, e.g. {"ticket_body": "My card was charged twice"}.',
    ),
    "expected_output": ("Expected answer", "Optional: the answer you would like, word for word."),
    "expected_fields": (
        "Expected fields",
        'Optional: what the answer must contain, e.g. {"category": "billing"}.',
    ),
}


def _lines(value) -> str:
    return "\n".join(value or [])


class PhrasesField(forms.CharField):
    """A list of short texts typed one per line (expected sources or facts)."""

    def __init__(self, **kwargs):
        super().__init__(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 24}), **kwargs)

    def prepare_value(self, value):
        return _lines(value) if isinstance(value, list) else value

    def to_python(self, value):
        return [line.strip() for line in (super().to_python(value) or "").splitlines() if line.strip()]


GROUNDING_HELP = {
    "expected_sources": "Optional, with a knowledge base: the documents the search should find, one per line, "
    "e.g. policies/refunds.md.",
    "expected_facts": "Optional, with a knowledge base: phrases the passages given to the prompt should hold, one "
    "per line, e.g. within 30 days.",
}


class CaseForm(forms.ModelForm):
    """A case's row; its tags typed as words separated by commas, not as a JSON list.

    This base asks for the input as JSON: only for a dataset that declares no variables. case_form_for
    gives a dataset that declares them one plain box per variable and per expected field instead.
    """

    declared: list[dict] = []  # the dataset's variables, each a box named var_<name>
    expected_names: list[str] = []  # its expected fields, each a box named expected_<i>
    expected_kinds: dict[str, str] = {}  # a field's type when its box is not plain text (e.g. "integer")

    tags = forms.CharField(
        required=False,
        help_text="Optional: words to run only some cases, separated by commas, e.g. billing, vip.",
        widget=forms.TextInput(attrs={"size": 16}),
    )
    expected_sources = PhrasesField(label="Expected sources", help_text=GROUNDING_HELP["expected_sources"])
    expected_facts = PhrasesField(label="Expected facts", help_text=GROUNDING_HELP["expected_facts"])

    class Meta:
        model = DatasetCase
        fields = ("input", "expected_output", "expected_fields", "tags", "expected_sources", "expected_facts")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in GROUNDED_FIELDS:
            # Declared boxes stay on the form even when the page leaves them out (a dataset whose prompt
            # uses no knowledge base): absent from the post, they would read as changed and clear the cases.
            if self._meta.fields is not None and name not in self._meta.fields:
                self.fields.pop(name, None)
        if self.instance.pk:
            self.initial["tags"] = ", ".join(self.instance.tags or [])
        given, expected = self.instance.input or {}, self.instance.expected_fields or {}
        for var in self.declared:
            self.initial[f"var_{var['name']}"] = cell_text(var.get("type", "string"), given.get(var["name"]))
        for i, name in enumerate(self.expected_names):
            self.initial[f"expected_{i}"] = cell_text(self.expected_kinds.get(name, "string"), expected.get(name))

    def clean_tags(self) -> list[str]:
        return tags_from_text(self.cleaned_data.get("tags", ""))

    def clean(self):
        data = super().clean()
        if not self.declared or self.errors:
            return data
        # Keys no box shows (an older import's) are kept as they were: editing never drops data.
        shown = {var["name"] for var in self.declared}
        inputs = {k: v for k, v in (self.instance.input or {}).items() if k not in shown}
        for var in self.declared:
            value = data.get(f"var_{var['name']}")
            if value is not None:  # an empty box, like an empty CSV cell: the variable's default
                inputs[var["name"]] = value
        before = self.instance.expected_fields or {}
        expected = {k: v for k, v in before.items() if k not in self.expected_names}
        for i, name in enumerate(self.expected_names):
            if name in self.expected_kinds:  # typed by the output schema: read by its box
                if data.get(f"expected_{i}") is not None:
                    expected[name] = data[f"expected_{i}"]
                continue
            text = data.get(f"expected_{i}", "").strip()
            if text:  # a non-text value left as shown keeps its type
                expected[name] = before[name] if cell_text("string", before.get(name)) == text else text
        self.instance.input, self.instance.expected_fields = inputs, expected
        return data


class VariableField(forms.CharField):
    """One variable's box: its text read exactly as the same text in a CSV cell (cell_value)."""

    def __init__(self, *, kind: str, **kwargs):
        self.kind = kind
        super().__init__(**kwargs)

    def to_python(self, value):
        text = super().to_python(value)
        if not text.strip():
            return None
        try:
            return cell_value(self.kind, text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc


def case_form_for(*, dataset: Dataset | None) -> type[CaseForm]:
    """The case form of this dataset: one box per declared variable and expected field, or the JSON one."""
    declared = dataset_variables(dataset=dataset) if dataset is not None else []
    if not declared:
        return CaseForm
    expected = dataset_expected_fields(dataset=dataset)
    boxes: dict[str, forms.Field] = {}
    for var in declared:
        kind = var.get("type", "string")
        hint = " — ".join(filter(None, [var.get("description"), HOW_TO_WRITE.get(kind, "any text")]))
        boxes[f"var_{var['name']}"] = VariableField(
            kind=kind,
            label=var["name"],
            required=bool(var.get("required")) and var.get("default") is None,
            help_text=hint,
            widget=forms.Textarea(attrs={"rows": 2, "cols": 20})
            if kind == "string"
            else forms.TextInput(attrs={"size": 10}),
        )
    for i, field in enumerate(expected):
        how = "" if field.kind == "string" else f": {HOW_TO_WRITE[field.kind]}"
        box = forms.CharField if field.kind == "string" else partial(VariableField, kind=field.kind)
        boxes[f"expected_{i}"] = box(
            label=f"Expected {field.name}", required=False, widget=forms.TextInput(attrs={"size": 12}),
            help_text=f"Optional: what the answer's field must say{how}.",
        )  # fmt: skip
    meta = type("Meta", (CaseForm.Meta,), {"fields": ("expected_output", "tags", *GROUNDED_FIELDS)})
    kinds = {f.name: f.kind for f in expected if f.kind != "string"}
    return type("DatasetCaseForm", (CaseForm,), {**boxes, "Meta": meta, "declared": declared,
                                                  "expected_names": [f.name for f in expected],
                                                  "expected_kinds": kinds})  # fmt: skip


GROUNDED_FIELDS = ("expected_sources", "expected_facts")


def dataset_grounded(dataset: Dataset | None) -> bool:
    """Whether the case table asks for expected sources and facts: its prompt uses a knowledge base, or its
    cases already name some."""
    if dataset is None or dataset.pk is None:
        return False
    template = dataset.template
    latest = template.versions.order_by("-number").first() if template is not None else None
    if latest is not None and latest.retrieval:
        return True
    rows = dataset.cases.values_list(*GROUNDED_FIELDS)[:5000]
    return any(sources or facts for sources, facts in rows)


class CaseInline(ProjectScopedInline):
    model = DatasetCase
    form = CaseForm
    project_path = "dataset__project"
    fields = ("position", "input", "expected_output", "expected_fields", "tags")
    readonly_fields = ("position",)
    extra = 0  # many cases come from imports; "Add another case" adds one by hand
    show_change_link = False
    verbose_name = "case"
    verbose_name_plural = "cases (add many at once with “Import cases” above)"
    # Compact boxes: the stock textareas made the table three screens wide.
    formfield_overrides = {
        models.JSONField: {"widget": forms.Textarea(attrs={"rows": 3, "cols": 36, "class": "promptlib-code"})},
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 3, "cols": 30})},
    }

    def _form(self, request, obj) -> type[CaseForm]:
        # Built once per page: get_fields and get_formset both need it.
        cache = request.__dict__.setdefault("_promptlib_case_forms", {})
        key = obj.pk if obj is not None else None
        if key not in cache:
            cache[key] = case_form_for(dataset=obj)
        return cache[key]

    def get_fields(self, request, obj=None):
        form = self._form(request, obj)
        grounded = GROUNDED_FIELDS if self._grounded(request, obj) else ()
        if not form.declared:
            return (*self.fields, *grounded)
        boxes = [n for n in form.base_fields if n.startswith(("var_", "expected_")) and n != "expected_output"]
        boxes = [n for n in boxes if n not in GROUNDED_FIELDS]
        return ("position", *boxes, "expected_output", *grounded, "tags")  # the inputs first, then what to expect

    def _grounded(self, request, obj) -> bool:
        cache = request.__dict__.setdefault("_promptlib_case_grounded", {})
        key = obj.pk if obj is not None else None
        if key not in cache:
            cache[key] = dataset_grounded(obj)
        return cache[key]

    def get_formset(self, request, obj=None, **kwargs):
        kwargs["form"] = self._form(request, obj)
        return super().get_formset(request, obj, **kwargs)

    def get_max_num(self, request, obj=None, **kwargs):
        return 0 if obj is None else None  # on the add page the variables are not known yet

    def has_change_permission(self, request, obj=None):
        # A kept version is what its batches ran: read-only, so their results keep meaning what they say.
        return not (obj is not None and obj.version_of_id) and super().has_change_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return not (obj is not None and obj.version_of_id) and super().has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not (obj is not None and obj.version_of_id) and super().has_delete_permission(request, obj)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and db_field.name in CASE_LABELS:
            field.label, field.help_text = CASE_LABELS[db_field.name]
        return field


class ImportForm(forms.Form):
    file = forms.FileField(help_text="CSV with a header row, or JSON Lines (one case per line).")
    format = forms.ChoiceField(choices=[("", "From the file name"), *[(f, f.upper()) for f in FORMATS]], required=False)
    replace = forms.TypedChoiceField(
        choices=[("", "Add these cases to the current ones"), ("1", "Replace the current cases with these")],
        coerce=bool,
        empty_value=False,
        required=False,
        initial="",
        widget=forms.RadioSelect,
        label="The cases already here",
        help_text="Either way this makes a new version of the dataset; batches that ran keep the cases they ran.",
    )


def column_guide(variables: list[dict], expected: list[ExpectedField] | None = None) -> list[dict[str, str]]:
    """One row per variable, then per expected field, for the import page: its column and how to write a value."""
    return [
        *({"name": v["name"], "how": HOW_TO_WRITE.get(v.get("type", "string"), "any text"),
           "required": "required" if v.get("required") and v.get("default") is None else "optional"}
          for v in variables),
        *({"name": f"{EXPECTED_PREFIX}{f.name}", "required": "optional", "how": f"what the answer's {f.name} must say"}
          for f in expected or []),
    ]  # fmt: skip


def dataset_columns(dataset: Dataset) -> list[dict[str, str]]:
    """The import guide of a dataset that declares variables: those, then its expected fields' columns."""
    variables = dataset_variables(dataset=dataset)
    return column_guide(variables, dataset_expected_fields(dataset=dataset) if variables else [])


@admin.register(Dataset)
class DatasetAdmin(ProjectScopedAdmin):
    empty_help = (
        "No datasets yet. A dataset holds test cases (sample inputs and the answers you expect). Click "
        "“Add dataset”, save it, then import its cases from a spreadsheet (CSV) file."
    )
    list_display = ("name", "template", "project", "version", "case_count", "updated_at")
    list_filter = (ProjectListFilter,)
    search_fields = ("name", "description")
    fields = ("project", "name", "template", "description", "version")
    readonly_fields = ("version",)
    inlines = (CaseInline,)
    change_form_template = "admin/promptlib/dataset/change_form.html"

    def get_queryset(self, request):
        rows = super().get_queryset(request).select_related("project", "template").annotate(case_total=Count("cases"))
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            return rows.filter(version_of__isnull=True)  # earlier versions are listed on each dataset's page
        return rows

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        template = self._template_from(request)
        if template is not None:  # "Add a dataset" from a template page or the experiment form
            initial.update(project=template.project_id, template=template.pk, name=template.slug)
        return initial

    def _template_from(self, request):
        from promptlib.prompts.models import Template

        ref = request.GET.get("template", "")
        if not ref.isdigit():
            return None
        return scope_queryset(Template.objects.all(), request, role=Role.EDITOR).filter(pk=int(ref)).first()

    def has_change_permission(self, request, obj=None):
        # A kept version stays as its batches saw it; the dataset itself is edited on its newest version.
        return not (obj is not None and obj.version_of_id) and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if obj.template_id and obj.template.project_id != obj.project_id:
            raise PermissionDenied  # refused by the form's clean first; never saved across projects
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        if formset.model is not DatasetCase:
            return super().save_formset(request, form, formset, change)
        cases = formset.save(commit=False)  # a case added by hand goes after the last one
        if not cases and not formset.deleted_objects:
            return
        dataset = form.instance
        before = dataset.version
        # Batches ran on these cases: the edit goes to copies of them, the next version (as an import does).
        copies = dataset_version_for_edit(dataset=dataset)
        last = dataset.cases.aggregate(top=Max("position"))["top"] or 0
        for case in cases:
            if case.position is None:
                last += 1
                case.position = last
            elif case.pk in copies:
                case.pk, case.dataset_id = copies[case.pk], dataset.pk
            case.save()
        for case in formset.deleted_objects:
            DatasetCase.objects.filter(pk=copies.get(case.pk, case.pk), dataset=dataset).delete()
        if copies:
            self.message_user(
                request,
                f"Batches ran on version {before}, so your changes made version {dataset.version} of {dataset.name}; "
                f"version {before} keeps the cases those batches ran.",
                messages.INFO,
            )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class DatasetForm(form):
            def clean(self):
                data = super().clean()
                project, template = data.get("project"), data.get("template")
                if project and template and template.project_id != project.pk:
                    self.add_error("template", "Choose a template of the dataset's project.")
                return data

        return DatasetForm

    def change_view(self, request, object_id, form_url="", extra_context=None):
        dataset = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if dataset is not None:
            current_id = dataset.version_of_id or dataset.pk
            rows = Dataset.objects.filter(Q(pk=current_id) | Q(version_of_id=current_id))
            extra["dataset_versions"] = [
                {"version": d.version, "cases": d.case_total, "this": d.pk == dataset.pk, "newest": d.pk == current_id,
                 "url": reverse("admin:promptlib_dataset_change", args=[d.pk])}
                for d in rows.annotate(case_total=Count("cases")).order_by("-version")
            ]  # fmt: skip
            extra["columns"] = dataset_columns(dataset)
            extra["runs"] = dataset_runs(dataset=dataset) if dataset.version_of_id is None else 0
        return super().change_view(request, object_id, form_url, extra)

    @admin.display(description="Cases", ordering="case_total")
    def case_count(self, obj):
        return obj.case_total

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/import/", wrap(self.import_view), name="promptlib_dataset_import"),
            path("<int:pk>/export/<str:fmt>/", wrap(self.export_view), name="promptlib_dataset_export"),
            *super().get_urls(),
        ]

    def _dataset(self, request, pk: int, role: str) -> Dataset:
        dataset = get_object_or_404(self.get_queryset(request), pk=pk)
        if not user_may(request, role, dataset.project_id):
            raise PermissionDenied
        return dataset

    def import_view(self, request, pk: int):
        dataset = self._dataset(request, pk, Role.EDITOR)
        form = ImportForm(request.POST or None, request.FILES or None)
        problems = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            fmt = form.cleaned_data["format"] or (
                "jsonl" if upload.name.lower().endswith((".jsonl", ".json")) else "csv"
            )
            if upload.size > MAX_UPLOAD_BYTES:
                form.add_error("file", f"The file is larger than {MAX_UPLOAD_BYTES // 1024 // 1024} MB.")
            else:
                try:
                    added = cases_import(
                        dataset=dataset, content=upload.read(), fmt=fmt, replace=form.cleaned_data["replace"]
                    )
                except DatasetError as exc:
                    problems = exc.rows
                    form.add_error(None, exc.message)
                else:
                    total = dataset.cases.count()
                    self.message_user(
                        request,
                        f"Imported {added} case(s): version {dataset.version} of {dataset.name} has {total} case(s).",
                        messages.SUCCESS,
                    )
                    return redirect(reverse("admin:promptlib_dataset_change", args=[dataset.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": dataset,
            "title": f"Import cases into {dataset.name}",
            "form": form,
            "problems": problems[:200],
            "columns": dataset_columns(dataset),
        }
        return TemplateResponse(request, "admin/promptlib/dataset/import.html", context)

    def export_view(self, request, pk: int, fmt: str):
        dataset = self._dataset(request, pk, Role.VIEWER)
        try:
            body = cases_export(dataset=dataset, fmt=fmt)
        except DatasetError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return redirect(reverse("admin:promptlib_dataset_change", args=[dataset.pk]))
        content_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
        response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{dataset.name}.{fmt}"'
        return response
