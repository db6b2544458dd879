"""Provider configurations: endpoints, models, limits, API keys and price overrides.

A publisher starts from a preset (OpenAI, Anthropic, Ollama on this machine…: promptlib/providers/presets.py)
and pastes the API key into a write-only field; it is stored encrypted and shown back only as
"Set, ends in …abcd". Or the provider names an environment variable the operator allows; the admin
says whether it is set, never its value, and flags a name that is no longer allowed. "Test connection"
tries the unsaved form (promptlib/providers/probe.py): a plain verdict, the server's models to pick
from, and the structured-output mode the server takes.
"""

from __future__ import annotations

import copy
import json
import os

from django import forms
from django.contrib import admin
from django.db import models
from django.http import HttpResponseNotAllowed, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html

from promptlib.admin.base import ProjectListFilter, ProjectScopedAdmin, ProjectScopedInline, user_may
from promptlib.admin.spending import spend_refused
from promptlib.core.models import Role
from promptlib.providers.models import ModelPrice, ProviderConfig
from promptlib.providers.policy import (
    ProviderPolicyError,
    env_key_destination_check,
    is_loopback_url,
    key_env_allowed,
)
from promptlib.providers.presets import PRESETS
from promptlib.providers.probe import provider_probe

# Form fields whose error stops Test connection (the others do not change where or how it connects).
_PROBE_FIELDS = ("kind", "base_url", "timeout_seconds")


class ModelPriceInline(ProjectScopedInline):
    model = ModelPrice
    fields = ["model", "input_per_mtok", "output_per_mtok"]
    edit_role = Role.PUBLISHER
    verbose_name = "price override (USD per million tokens)"
    verbose_name_plural = "price overrides (USD per million tokens) — for models the built-in price list lacks"


class ModelNamesField(forms.CharField):
    """Model names typed as a comma-separated list (a JSON list is accepted too)."""

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        raw = (super().to_python(value) or "").strip()
        if raw.startswith("["):
            try:
                names = json.loads(raw)
            except json.JSONDecodeError:
                raise forms.ValidationError("Separate the model names with commas, e.g. gpt-4o-mini, gpt-4o.")
            return names if isinstance(names, list) else [names]
        return [name.strip() for name in raw.split(",") if name.strip()]


class ProviderConfigForm(forms.ModelForm):
    preset = forms.ChoiceField(
        required=False,
        label="Start from",
        choices=[("", "— pick the kind of server —"), *((p.key, p.label) for p in PRESETS)],
        help_text="Fills in the address and settings for you; change what differs, then test the connection.",
        widget=forms.Select(attrs={"data-presets": json.dumps([p.as_dict() for p in PRESETS])}),
    )
    base_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label="Address (URL)",
        help_text="Leave blank for the provider's own address; fill in for a local or self-hosted server.",
    )
    models = ModelNamesField(
        required=False,
        label="Models",
        help_text="The model names this provider offers, separated by commas, e.g. gpt-4o-mini, gpt-4o.",
    )
    # Write-only: never rendered back (render_value=False), stored encrypted.
    api_key = forms.CharField(
        required=False,
        strip=True,
        max_length=2000,
        label="API key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Paste the key from the provider's dashboard (e.g. sk-…): stored encrypted, never shown again.",
    )
    api_key_clear = forms.BooleanField(required=False, label="Clear the stored API key")

    class Meta:
        model = ProviderConfig
        fields = (
            *("project", "name", "kind", "base_url", "models", "api_key_env"),
            *("timeout_seconds", "max_concurrency", "rpm_limit", "max_retries", "structured_output"),
        )
        labels = {
            "api_key_env": "Or: API key variable",
            "timeout_seconds": "Timeout (seconds)",
            "max_concurrency": "Calls at once",
            "rpm_limit": "Calls per minute",
            "max_retries": "Retries",
            "structured_output": "Structured output",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "structured_output" in self.fields:
            # Left out of a posted form (an older page, a script): the stored value stays, json_schema when new.
            self.fields["structured_output"].required = False
        if "api_key" in self.fields and self.instance.api_key_is_set:
            hint = self.instance.api_key_hint
            self.fields[
                "api_key"
            ].help_text = (
                f"Set{', ends in ' + hint if hint else ''}. Type a new key to replace it; leave blank to keep it."
            )

    def clean(self):
        cleaned = super().clean()
        # On the instance before the model's checks run (they need to know whether a key is stored).
        if cleaned.get("api_key"):
            self.instance.api_key_store(cleaned["api_key"])
        elif cleaned.get("api_key_clear"):
            self.instance.api_key_store(None)
        return cleaned


@admin.register(ProviderConfig)
class ProviderConfigAdmin(ProjectScopedAdmin):
    empty_help = (
        "No providers yet. A publisher adds one (OpenAI, Anthropic or the offline demo) so that batches "
        "can call an AI model."
    )
    # Limits and endpoints decide spend: publishers only.
    edit_role = Role.PUBLISHER
    form = ProviderConfigForm
    list_display = ["name", "project", "kind", "base_url", "api_key_env", "key_status", "max_concurrency", "rpm_limit"]
    list_filter = [ProjectListFilter, "kind"]
    list_select_related = ["project"]
    search_fields = ["name", "base_url"]
    inlines = [ModelPriceInline]
    readonly_fields = ["key_status", "connection_test"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    class Media:
        js = ["promptlib/providers.js"]

    def get_fieldsets(self, request, obj=None):
        # The key fields only for those who may change the provider: a view-only page has no form fields.
        may_edit = self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        key_fields = ["api_key", "api_key_clear", "api_key_env", "key_status"] if may_edit else ["key_status"]
        first = ["project", "name", "kind", "base_url", "models", "structured_output"]
        return [
            (None, {"fields": ["preset", *first] if may_edit and obj is None else first}),
            ("API key", {"fields": key_fields}),
            *([("Test connection", {"fields": ["connection_test"]})] if may_edit else []),
            (
                "Limits (across all workers)",
                {"fields": ["timeout_seconds", "max_concurrency", "rpm_limit", "max_retries"]},
            ),
        ]

    @admin.display(description="Check")
    def connection_test(self, obj: ProviderConfig) -> str:
        # Probes what the form says now, saved or not (the typed key included).
        url = self._probe_url(obj.pk if obj is not None else None)
        return format_html(
            '<div class="promptlib-probe" id="probe" data-url="{}">'
            '<button type="button" class="button" id="probe-button">Test connection</button> '
            '<span id="probe-verdict" role="status"></span>'
            '<p id="probe-structured"></p><div id="probe-models"></div></div>',
            url,
        )

    def _probe_url(self, pk) -> str:
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return reverse(f"admin:{info}_probe", args=[pk]) if pk else reverse(f"admin:{info}_probe_new")

    def get_urls(self):
        wrap = self.admin_site.admin_view
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("probe/", wrap(self.probe_view), name=f"{info}_probe_new"),
            path("<path:object_id>/probe/", wrap(self.probe_view), name=f"{info}_probe"),
            *super().get_urls(),
        ]

    def probe_view(self, request, object_id=None):
        """POST the provider form as it stands: JSON {ok, verdict, models, structured_output, structured_note}."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        saved = self.scoped_object_or_404(request, object_id) if object_id else None
        allowed = self.has_change_permission(request, saved) if saved else self.has_add_permission(request)
        form_class = self.get_form(request, saved, change=saved is not None)
        form = form_class(request.POST, instance=copy.copy(saved) if saved else None)
        form.is_valid()  # the instance gets what parsed; nothing is saved
        project = form.cleaned_data.get("project")
        if not allowed or (project is not None and not user_may(request, self.edit_role, project.pk)):
            verdict = "Only publishers can test a provider's connection."
            return JsonResponse({"ok": False, "verdict": verdict}, status=403)
        for name in _PROBE_FIELDS:
            if name in form.errors:
                label = form.fields[name].label or name
                return JsonResponse({"ok": False, "verdict": f"{label}: {' '.join(form.errors[name])}"}, status=400)
        refused = spend_refused(request)
        if refused is not None:
            return refused
        result = provider_probe(config=form.instance, model=next(iter(form.cleaned_data.get("models") or []), ""))
        return JsonResponse(result.as_dict())

    @admin.display(description="Key status")
    def key_status(self, obj: ProviderConfig) -> str:
        # Says only whether a key is there and its hint: never its value, not even a prefix.
        if obj is None or obj.pk is None:
            return "—"
        if obj.kind == ProviderConfig.Kind.DEMO:
            return "Not needed (offline demo)"
        if obj.api_key_is_set:
            return f"Set, ends in {obj.api_key_hint}" if obj.api_key_hint else "Set"
        if not obj.api_key_env:
            return "Not needed (local server)" if is_loopback_url(obj.base_url) else "Missing: paste the API key"
        if not key_env_allowed(obj.api_key_env):
            return (
                f"Refused: {obj.api_key_env} is not a variable providers may read. Paste the API key, then clear "
                "the variable name (or ask the operator to allow it in PROMPTLIB_ALLOWED_KEY_ENV)."
            )
        try:
            env_key_destination_check(kind=obj.kind, base_url=obj.base_url)
        except ProviderPolicyError as exc:
            return f"Refused: {exc.message}"
        return "Set" if os.environ.get(obj.api_key_env) else f"Missing: set {obj.api_key_env} on the workers"
