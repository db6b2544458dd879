"""Provider configurations: endpoints, models, limits, API keys and price overrides.

A publisher pastes the API key into a write-only field; it is stored encrypted and shown back only
as "Set, ends in …abcd". Or the provider names an environment variable the operator allows; the
admin says whether it is set, never its value, and flags a name that is no longer allowed.
"""

from __future__ import annotations

import json
import os

from django import forms
from django.contrib import admin
from django.db import models

from promptlib.admin.base import ProjectListFilter, ProjectScopedAdmin, ProjectScopedInline
from promptlib.core.models import Role
from promptlib.providers.models import ModelPrice, ProviderConfig
from promptlib.providers.policy import (
    ProviderPolicyError,
    env_key_destination_check,
    is_loopback_url,
    key_env_allowed,
)


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
    readonly_fields = ["key_status"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_fieldsets(self, request, obj=None):
        # The key fields only for those who may change the provider: a view-only page has no form fields.
        may_edit = self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        key_fields = ["api_key", "api_key_clear", "api_key_env", "key_status"] if may_edit else ["key_status"]
        return [
            (None, {"fields": ["project", "name", "kind", "base_url", "models", "structured_output"]}),
            ("API key", {"fields": key_fields}),
            (
                "Limits (across all workers)",
                {"fields": ["timeout_seconds", "max_concurrency", "rpm_limit", "max_retries"]},
            ),
        ]

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
