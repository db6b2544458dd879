"""The template page's extra views: version diff, live preview (JSON) and label moves.

Each view looks the template up through the admin's scoped queryset, so a template of another
project answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import mark_safe

from promptlib.core.models import Role
from promptlib.prompts.admin.forms import (
    ROWS_NEED_FIXING,
    VersionContentForm,
    format_value,
    friendly_field,
    parse_value,
)
from promptlib.prompts.content import SECTIONS, VersionContent
from promptlib.prompts.models import LabelEvent, Version
from promptlib.prompts.rendering import PromptError, PromptErrors, render
from promptlib.prompts.retrieval import prompt_build
from promptlib.prompts.services import LabelError, label_move, label_name_clean, label_remove

SUGGESTED_LABELS = ("production", "staging")


# --- the change page's panels ------------------------------------------------------------


def editor_context(model_admin, request, template) -> dict[str, Any]:
    """Versions, labels, history and preview inputs for the template page."""
    preview_url = reverse("admin:promptlib_template_preview_new")
    if template is None:
        return {"preview_url": preview_url, "preview_variables": [], "preview_ready": True}
    versions = list(template.versions.select_related("author").order_by("-number"))
    labels = list(template.labels.all())
    events = list(
        LabelEvent.objects.filter(template=template).select_related("actor", "from_version", "to_version")[:50]
    )
    by_version: dict[int, list[str]] = {}
    for label in labels:
        by_version.setdefault(label.version_id, []).append(label.name)
    for version in versions:
        version.label_names = by_version.get(version.pk, [])
    for label in labels:
        # Roll back = go back to where the label pointed before its last move.
        last_move = next((e for e in events if e.label == label.name and e.action == LabelEvent.Action.MOVE), None)
        label.rollback_to = last_move.from_version if last_move and last_move.from_version_id else None
    latest = versions[0] if versions else None
    preview_variables = [
        {**var, "value": format_value(var.get("default"))} for var in (latest.variables if latest else [])
    ]
    experiments = list(template.experiments.order_by("-created_at")[:20])
    for experiment in experiments:
        experiment.change_url = reverse("admin:promptlib_experiment_change", args=[experiment.pk])
        experiment.dashboard_url = reverse("promptlib_experiment_dashboard", args=[experiment.pk])
    return {
        "experiments": experiments,
        "new_experiment_url": reverse("admin:promptlib_experiment_compare") + f"?template={template.pk}",
        "can_edit": model_admin.has_role(request, Role.EDITOR, template),
        "versions": versions,
        "labels": labels,
        "label_events": events,
        "can_publish": model_admin.has_role(request, Role.PUBLISHER, template),
        "label_suggestions": sorted(set(SUGGESTED_LABELS) | {lb.name for lb in labels}),
        "latest_version": latest,
        "preview_url": reverse("admin:promptlib_template_preview", args=[template.pk]),
        "diff_url": reverse("admin:promptlib_template_diff", args=[template.pk]),
        "labels_url": reverse("admin:promptlib_template_labels", args=[template.pk]),
        "preview_variables": preview_variables,
        # The page previews itself on load only when that can work: no required value is left empty.
        "preview_ready": all(v["value"] or not v.get("required") for v in preview_variables),
    }


# --- diff ----------------------------------------------------------------------------------


def _diff_parts(version: Version) -> dict[str, str]:
    """Each comparable part of a version as plain text lines."""
    examples = "\n\n".join(
        f"Example {i} input:\n{ex.get('input', '')}\nExample {i} output:\n{ex.get('output', '')}"
        for i, ex in enumerate(version.examples, start=1)
    )
    variables = "\n".join(
        f"{v['name']}: {v.get('type', 'string')}, {'required' if v.get('required') else 'optional'}"
        f", default {format_value(v.get('default')) or '(none)'}"
        + (f" — {v['description']}" if v.get("description") else "")
        for v in version.variables
    )
    settings = "\n".join(
        f"{name}: {'' if getattr(version, name) is None else getattr(version, name)}"
        for name in ("provider", "model", "temperature", "max_tokens")
    )
    schema = json.dumps(version.output_schema, indent=2, sort_keys=True) if version.output_schema else ""
    retrieval = "\n".join(
        f"{name}: {', '.join(value) if isinstance(value, list) else '' if value is None else value}"
        for name, value in (version.retrieval or {}).items()
    )
    parts = {name: getattr(version, name) for name in SECTIONS}
    parts.update({"examples": examples, "variables": variables, "model settings": settings, "output schema": schema,
                  "knowledge base": retrieval})  # fmt: skip
    return parts


def version_diff(old: Version, new: Version) -> list[dict[str, Any]]:
    # No wrapcolumn: HtmlDiff would cut lines at a column, mid-word. The browser wraps them by words
    # instead (admin.css), which needs real spaces where HtmlDiff writes &nbsp;.
    differ = difflib.HtmlDiff()
    old_parts, new_parts = _diff_parts(old), _diff_parts(new)
    result = []
    for name, before in old_parts.items():
        after = new_parts[name]
        table = ""
        if before != after:
            # HtmlDiff escapes the text it shows, so its table is safe to insert.
            table = mark_safe(  # noqa: S308
                differ.make_table(
                    before.splitlines(),
                    after.splitlines(),
                    fromdesc=f"Version {old.number}",
                    todesc=f"Version {new.number}",
                ).replace("&nbsp;", " ")
            )
        result.append({"name": name, "changed": before != after, "table": table})
    return result


def _number(raw: str | None, default: int | None) -> int | None:
    try:
        return int(raw) if raw else default
    except ValueError:
        return default


def diff_view(model_admin):
    def view(request, object_id):
        template = model_admin.scoped_object_or_404(request, object_id)
        versions = list(template.versions.select_related("author").order_by("-number"))
        by_number = {v.number: v for v in versions}
        newest = versions[0].number if versions else None
        b = by_number.get(_number(request.GET.get("b"), newest))
        a = by_number.get(_number(request.GET.get("a"), b.number - 1 if b else None))
        if versions and (a is None or b is None) and ("a" in request.GET or "b" in request.GET):
            raise Http404("No such version.")
        context = {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.opts,
            "original": template,
            "title": f"Compare versions of “{template.title}”",
            "versions": versions,
            "a": a,
            "b": b,
            "parts": version_diff(a, b) if a and b else [],
        }
        return TemplateResponse(request, "admin/promptlib/template/diff.html", context)

    return view


# --- live preview ----------------------------------------------------------------------------


def _form_errors(form: VersionContentForm) -> list[dict[str, str]]:
    errors = [
        {"field": name if name != "__all__" else "", "message": message}
        for name, messages_ in form.errors.items()
        for message in messages_
    ]
    for label, formset in (("example", form.examples_formset), ("variable", form.variables_formset)):
        for index, row in enumerate(formset.forms, start=1):
            for name, messages_ in row.errors.items():
                for message in messages_:
                    errors.append({"field": f"{label} {index} {name}", "message": message})
    # The summary line repeats what the rows already say.
    return [e for e in errors if e["message"] != ROWS_NEED_FIXING]


def _preview_values(content: VersionContent, post) -> tuple[dict[str, Any], list[dict[str, str]]]:
    values: dict[str, Any] = {}
    errors = []
    for var in content.variables:
        raw = post.get(f"preview-{var['name']}")
        if raw is None or not raw.strip():
            continue  # the declared default (or "required") applies
        try:
            values[var["name"]] = parse_value(var.get("type", "string"), raw)
        except ValueError as exc:
            errors.append({"field": f"variables.{var['name']}", "message": f"{var['name']}: {exc}"})
    return values, errors


def preview_view(model_admin):
    """POST the editor's fields (or `version`=N) and `preview-<name>` values; get messages or errors."""

    def view(request, object_id=None):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if object_id is None:
            if not model_admin.has_view_permission(request):
                raise PermissionDenied
            template = None
        else:
            template = model_admin.scoped_object_or_404(request, object_id)
        if request.POST.get("version") and template is not None:
            version = template.versions.filter(number=_number(request.POST["version"], 0)).first()
            if version is None:
                raise Http404("No such version.")
            content = VersionContent.from_obj(version)
        else:
            form = VersionContentForm(request.POST)
            if not form.is_valid():
                return JsonResponse({"ok": False, "errors": _form_errors(form)}, status=400)
            content = form.content
        values, errors = _preview_values(content, request.POST)
        if errors:
            return JsonResponse({"ok": False, "errors": errors}, status=400)
        retrieval = None
        try:
            if template is not None and content.retrieval:  # the code path the API uses
                built = prompt_build(project_id=template.project_id, content=content, variables=values)
                rendered, retrieval = built.prompt, built.retrieval
            else:
                rendered = render(content, values)
        except PromptError as exc:
            problems = exc.errors if isinstance(exc, PromptErrors) else [exc]
            return JsonResponse(
                {"ok": False, "errors": [{"field": p.field, "message": friendly_field(p.message)} for p in problems]},
                status=400,  # a refused template or value, named in the body, as the API answers it
            )
        passages = retrieval.citations() if retrieval is not None else None
        return JsonResponse(
            {"ok": True, "messages": rendered.messages, "variables": rendered.variables, "passages": passages}
        )

    return view


# --- labels ----------------------------------------------------------------------------------


class LabelActionForm(forms.Form):
    action = forms.ChoiceField(choices=[("move", "move"), ("remove", "remove")])
    # Checked by the service (label_name_clean), which names the problem in words.
    name = forms.CharField(max_length=200, strip=False)
    version = forms.IntegerField(required=False, min_value=1)
    note = forms.CharField(required=False, max_length=500)
    confirmed = forms.BooleanField(required=False)


def label_change_consequence(*, template, label, action: str, version: Version | None) -> str | None:
    """What applications will notice, in words, when the change needs a confirmation; None when it needs none.

    Removing a label and moving one back to an older version change what running applications get at
    once, so both are confirmed; publishing to a new label or a newer version is the everyday step.
    """
    if label is None:
        return None
    asked = f"Applications asking for “{label.name}” of “{template.slug}”"
    if action == "remove":
        return (
            f"{asked} will get an error (“Template '{template.slug}' has no label '{label.name}'”) "
            f"until a version is published as “{label.name}” again. They get version {label.version.number} now."
        )
    if version is not None and version.number < label.version.number:
        return (
            f"{asked} will get version {version.number} instead of version {label.version.number}, "
            "from their next request on."
        )
    return None


def labels_view(model_admin):
    """Publish (move a label to a version), roll back (move it to an older one) or remove it.

    A removal or a roll back first shows a page saying what applications will notice; the change is
    made when that page's button is pressed (confirmed=on).
    """

    def view(request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        template = model_admin.scoped_object_or_404(request, object_id)
        if not model_admin.has_role(request, Role.PUBLISHER, template):
            raise PermissionDenied
        back = reverse("admin:promptlib_template_change", args=[template.pk]) + "#labels"
        form = LabelActionForm(request.POST)
        if not form.is_valid():
            for field, errors in form.errors.items():
                messages.error(request, f"{field}: {' '.join(errors)}")
            return HttpResponseRedirect(back)
        data = form.cleaned_data
        try:
            name = label_name_clean(name=data["name"], template=template)
            label = template.labels.select_related("version").filter(name=name).first()
            version = None
            if data["action"] == "move":
                version = template.versions.filter(number=data["version"] or 0).first()
                if version is None:
                    raise LabelError("Choose a version of this template.", field="version")
            consequence = label_change_consequence(
                template=template, label=label, action=data["action"], version=version
            )
            if consequence and not data["confirmed"]:
                return _label_confirm_page(
                    model_admin, request, template=template, data={**data, "name": name}, consequence=consequence,
                    back=back, version=version,
                )  # fmt: skip
            if data["action"] == "remove":
                label_remove(template=template, name=name, actor=request.user, via="admin", note=data["note"])
                messages.success(request, f"Removed the label “{name}”.")
            else:
                label_move(
                    template=template, name=name, version=version, actor=request.user, via="admin", note=data["note"]
                )
                messages.success(request, f"“{name}” now points at version {version.number}.")
        except LabelError as exc:
            messages.error(request, exc.message)
        return HttpResponseRedirect(back)

    return view


def _label_confirm_page(model_admin, request, *, template, data, consequence, back, version):
    if data["action"] == "remove":
        title, button = f"Remove the label “{data['name']}”?", f"Yes, remove “{data['name']}”"
    else:
        title = f"Roll “{data['name']}” back to version {version.number}?"
        button = f"Yes, roll back to version {version.number}"
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": template,
        "title": title,
        "consequence": consequence,
        "button": button,
        "fields": {k: ("" if v is None else v) for k, v in data.items() if k != "confirmed"},
        "cancel_url": back,
    }
    return TemplateResponse(request, "admin/promptlib/confirm.html", context)
