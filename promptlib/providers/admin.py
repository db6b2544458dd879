"""Provider configurations: endpoints, models, limits and price overrides.

The API key never appears here: the admin shows the NAME of the environment variable that holds
it, and whether this server has that variable set.
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

    class Meta:
        model = ProviderConfig
        fields = (
            *("project", "name", "kind", "base_url", "models", "api_key_env"),
            *("timeout_seconds", "max_concurrency", "rpm_limit", "max_retries"),
        )
        labels = {
            "api_key_env": "API key variable",
            "timeout_seconds": "Timeout (seconds)",
            "max_concurrency": "Calls at once",
            "rpm_limit": "Calls per minute",
            "max_retries": "Retries",
        }


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
    fieldsets = [
        (None, {"fields": ["project", "name", "kind", "base_url", "models"]}),
        ("API key", {"fields": ["api_key_env", "key_status"]}),
        ("Limits (across all workers)", {"fields": ["timeout_seconds", "max_concurrency", "rpm_limit", "max_retries"]}),
    ]
    readonly_fields = ["key_status"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="Key variable on this server")
    def key_status(self, obj: ProviderConfig) -> str:
        # Says only whether the variable is set: never its value, not even a prefix.
        if obj is None or obj.pk is None:
            return "—"
        if obj.kind == ProviderConfig.Kind.DEMO:
            return "Not needed (offline demo)"
        if not obj.api_key_env:
            return "Not needed (local server)"
        return "Set" if os.environ.get(obj.api_key_env) else f"Missing: set {obj.api_key_env} on the workers"
