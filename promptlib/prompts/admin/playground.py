"""The template page's playground: run the draft or saved versions on a model, save a run as a test case.

    POST <template>/playground/run/    editor fields (the draft) or version=N, provider, model,
                                        preview-<variable> values → text/event-stream of JSON events
    GET  <template>/playground/cases/?dataset=ID   the dataset's first cases, to fill the inputs
    POST <template>/playground/case/   the same inputs + dataset (or dataset_name) + expected_output

Running spends money, so it takes the editor role (viewers only read) and a per-user budget
(promptlib/admin/spending.py). The call itself is the service's (promptlib/prompts/playground.py).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction
from django.http import HttpResponseNotAllowed, JsonResponse, StreamingHttpResponse
from django.urls import path, reverse

from promptlib.admin.spending import spend_refused
from promptlib.batches.datasets import DatasetError, case_data_validate, cases_add, dataset_create
from promptlib.batches.models import Dataset
from promptlib.batches.selectors import dataset_find, datasets_list
from promptlib.core.models import Role
from promptlib.prompts.admin.forms import VersionContentForm, format_value, friendly_field
from promptlib.prompts.admin.views import _form_errors, _number, _preview_values
from promptlib.prompts.content import VersionContent
from promptlib.prompts.playground import playground_request, playground_retrieve, playground_stream, retrieved_event
from promptlib.prompts.rendering import PromptError, PromptErrors
from promptlib.providers.selectors import provider_configs_list

MAX_COLUMNS = 3
CASES_SHOWN = 100
NOT_ALLOWED = "Only editors and publishers can run the playground: each run is a paid call to the provider."


class _RefusedError(Exception):
    """A request the playground answers with a JSON error instead of a run."""

    def __init__(self, message: str, *, status: int = 400, field: str = "", errors: list | None = None):
        super().__init__(message)
        self.response = JsonResponse(
            {"ok": False, "errors": errors or [{"field": field, "message": message}]}, status=status
        )


def playground_context(model_admin, request, template) -> dict[str, Any]:
    """What the playground panel needs; nothing for a new template (it has no project yet)."""
    if template is None:
        return {}
    latest = template.versions.order_by("-number").first()
    providers = [
        {
            "id": p.pk,
            "name": p.name,
            "label": p.name + (" (offline demo)" if p.kind == "demo" else ""),
            "models": list(p.models or []),
        }
        for p in provider_configs_list(project_id=template.project_id)
    ]
    preferred = latest.provider if latest else ""
    default = next((p for p in providers if p["name"] == preferred), None) or next(iter(providers), None)
    default_model = latest.model if latest and default and default["name"] == preferred else ""
    datasets = [{"id": d.pk, "name": d.name} for d in datasets_list(project_id=template.project_id)]
    new_dataset = f"{template.slug}-cases"[:120]
    # The template's own cases by name (the demo's and this page's convention); else a new dataset.
    own = next((d["id"] for d in datasets if d["name"] in (template.slug, new_dataset)), None)
    info = f"{model_admin.opts.app_label}_{model_admin.opts.model_name}"
    return {
        "playground": {
            "can_run": model_admin.has_role(request, Role.EDITOR, template),
            "run_url": reverse(f"admin:{info}_playground_run", args=[template.pk]),
            "cases_url": reverse(f"admin:{info}_playground_cases", args=[template.pk]),
            "save_url": reverse(f"admin:{info}_playground_case", args=[template.pk]),
            "providers_add_url": reverse("admin:promptlib_providerconfig_add"),
            "setup": {
                "providers": providers,
                "provider": default["id"] if default else None,
                "model": default_model or (default["models"][0] if default and default["models"] else ""),
                "datasets": datasets,
                "dataset": own,
                "new_dataset": new_dataset,
                "max_columns": MAX_COLUMNS,
            },
        }
    }


def playground_urls(model_admin) -> list:
    wrap = model_admin.admin_site.admin_view
    info = f"{model_admin.opts.app_label}_{model_admin.opts.model_name}"
    return [
        path("<path:object_id>/playground/run/", wrap(run_view(model_admin)), name=f"{info}_playground_run"),
        path("<path:object_id>/playground/cases/", wrap(cases_view(model_admin)), name=f"{info}_playground_cases"),
        path("<path:object_id>/playground/case/", wrap(save_case_view(model_admin)), name=f"{info}_playground_case"),
    ]


# --- shared steps ---------------------------------------------------------------------------


def _editor_template(model_admin, request, object_id):
    template = model_admin.scoped_object_or_404(request, object_id)
    if not model_admin.has_role(request, Role.EDITOR, template):
        raise _RefusedError(NOT_ALLOWED, status=403)
    return template


def _content(template, post) -> VersionContent:
    """The saved version asked for (version=N), else the editor's unsaved fields."""
    if post.get("version"):
        version = template.versions.filter(number=_number(post["version"], 0)).first()
        if version is None:
            raise _RefusedError("Choose a version of this template.", field="version", status=404)
        return VersionContent.from_obj(version)
    form = VersionContentForm(post)
    if not form.is_valid():
        raise _RefusedError("The draft has problems.", errors=_form_errors(form))
    return form.content


def _values(content: VersionContent, post) -> dict[str, Any]:
    values, errors = _preview_values(content, post)
    if errors:
        raise _RefusedError("Check the values.", errors=errors)
    return values


def _prompt_errors(exc: PromptError) -> list[dict[str, str]]:
    problems = exc.errors if isinstance(exc, PromptErrors) else [exc]
    return [{"field": p.field, "message": friendly_field(p.message)} for p in problems]


def _provider(template, post):
    raw = post.get("provider") or ""
    config = next((p for p in provider_configs_list(project_id=template.project_id) if str(p.pk) == raw), None)
    if config is None:
        raise _RefusedError("Choose one of this project's providers.", field="provider")
    return config


def _sse(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event)}\n\n".encode()


def _draft(model_admin, request, object_id) -> tuple[Any, VersionContent, dict[str, Any]]:
    """The template being edited, the content in its editor and the values typed: what a run or a saved case uses."""
    template = _editor_template(model_admin, request, object_id)
    content = _content(template, request.POST)
    return template, content, _values(content, request.POST)


# --- views ----------------------------------------------------------------------------------


def run_view(model_admin):
    def view(request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            template, content, values = _draft(model_admin, request, object_id)
            config = _provider(template, request.POST)
            model = (request.POST.get("model") or "").strip() or next(iter(config.models or []), "")
            if not model:
                raise _RefusedError("Choose a model.", field="model")
            try:
                retrieval = playground_retrieve(project_id=template.project_id, content=content, values=values)
                chat = playground_request(content=content, values=values, model=model, project_id=template.project_id)
            except PromptError as exc:
                raise _RefusedError("The prompt cannot be rendered.", errors=_prompt_errors(exc)) from None
        except _RefusedError as refused:
            return refused.response
        refused = spend_refused(request)  # counted only for a run that would really call the provider
        if refused is not None:
            return refused
        first = [retrieved_event(retrieval)] if retrieval is not None else []
        events = (_sse(event) for event in itertools.chain(first, playground_stream(config=config, request=chat)))
        response = StreamingHttpResponse(events, content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
        return response

    return view


def cases_view(model_admin):
    def view(request, object_id):
        template = model_admin.scoped_object_or_404(request, object_id)
        dataset = dataset_find(project_id=template.project_id, ref=request.GET.get("dataset", ""))
        if dataset is None:
            return JsonResponse({"ok": False, "errors": [{"field": "dataset", "message": "No such dataset."}]}, 404)
        cases = [
            {
                "position": case.position,
                "values": {name: format_value(value) for name, value in (case.input or {}).items()},
                "expected_output": case.expected_output,
            }
            for case in dataset.cases.order_by("position")[:CASES_SHOWN]
        ]
        return JsonResponse({"ok": True, "cases": cases})

    return view


def save_case_view(model_admin):
    def view(request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            template, content, values = _draft(model_admin, request, object_id)
            case = case_data_validate({"input": values, "expected_output": request.POST.get("expected_output", "")})
            dataset, count = _case_save(template, request.POST, case)
        except _RefusedError as refused:
            return refused.response
        except DatasetError as exc:
            return JsonResponse({"ok": False, "errors": exc.entries()}, status=exc.status)
        return JsonResponse(
            {
                "ok": True,
                "message": f"Saved as test case {count} of the dataset “{dataset.name}”.",
                "dataset": {"id": dataset.pk, "name": dataset.name},
            }
        )

    return view


@transaction.atomic
def _case_save(template, post, case) -> tuple[Dataset, int]:
    """Into the chosen dataset of the project, or a new one: all or nothing. Returns it and its case count."""
    if post.get("dataset"):
        dataset = dataset_find(project_id=template.project_id, ref=post["dataset"])
        if dataset is None:
            raise _RefusedError("Choose one of this project's datasets.", field="dataset")
    else:
        name = (post.get("dataset_name") or "").strip()
        try:
            validate_slug(name)
        except ValidationError:
            raise _RefusedError(
                "Name the new dataset with letters, digits, - and _ (e.g. support-cases).", field="dataset_name"
            ) from None
        dataset = dataset_create(project=template.project, name=name)
    cases_add(dataset=dataset, cases=[case])
    return dataset, dataset.cases.count()
