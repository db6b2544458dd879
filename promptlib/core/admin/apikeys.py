"""Admin for API keys: publishers create them (the full key is shown once) and revoke them.

The new key never travels in a cookie (Django's messages cookie is signed, not encrypted): it waits
in the server-side session for the page of its own that shows it, which takes it out on the first
visit.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from promptlib.admin.base import SUPERUSER_ONLY, ProjectListFilter, ProjectScopedAdmin, user_may
from promptlib.core.apikeys import ApiKeyError, api_key_create, api_key_revoke
from promptlib.core.models import ApiKey, Role
from promptlib.prompts.selectors import templates_list, version_for_label, version_latest

_NEW_KEYS_SESSION = "promptlib_new_api_keys"
# A value of each type for the snippets, when the variable has no default.
_SAMPLE_VALUES = {"string": "text", "integer": 1, "number": 1.5, "boolean": True, "list": ["a", "b"], "object": {}}


class KeyStatusFilter(admin.SimpleListFilter):
    """Active or revoked, rather than the stock date filter on revoked_at ("Today", "Past 7 days"…)."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() in ("active", "revoked"):
            return queryset.filter(revoked_at__isnull=self.value() == "active")
        return queryset


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiKey.Scope.READ],
        help_text="Write includes read.",
    )

    class Meta:
        model = ApiKey
        fields = ("project", "name")


@admin.register(ApiKey)
class ApiKeyAdmin(ProjectScopedAdmin):
    empty_help = (
        "No API keys yet. Your applications send an API key to fetch prompts. A publisher creates one with "
        "“Add API key”; the full key is shown only once."
    )
    form = ApiKeyForm
    edit_role = Role.PUBLISHER
    delete_role = SUPERUSER_ONLY  # revoke instead: the row stays as a record
    list_display = (
        "key_display",
        "name",
        "project",
        "scopes_display",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    )
    list_select_related = ("project", "created_by")
    list_filter = (ProjectListFilter, KeyStatusFilter)
    search_fields = ("name", "prefix")
    actions = ("revoke_keys",)
    readonly_fields = (
        "key_display",
        "project",
        "name",
        "scopes_display",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    )

    def get_fields(self, request, obj=None):
        return ("project", "name", "scopes") if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)  # keys never change; revoke them

    @admin.display(description="Key")
    def key_display(self, obj):
        return f"pl_{obj.prefix}_…"

    @admin.display(description="Scopes")
    def scopes_display(self, obj):
        return ", ".join(obj.scopes)

    def save_model(self, request, obj, form, change):
        if change or not user_may(request, self.edit_role, obj.project_id):
            raise PermissionDenied
        try:
            created, raw = api_key_create(
                project=obj.project, scopes=form.cleaned_data["scopes"], name=obj.name, created_by=request.user
            )
        except ApiKeyError as exc:
            raise PermissionDenied(exc.message) from exc
        obj.pk, obj.prefix, obj.created_at = created.pk, created.prefix, created.created_at
        # Keyed by id: a second key created before the first one's page was seen must not replace it.
        request.session[_NEW_KEYS_SESSION] = {**request.session.get(_NEW_KEYS_SESSION, {}), str(created.pk): raw}

    def response_add(self, request, obj, post_url_continue=None):
        return HttpResponseRedirect(reverse("admin:promptlib_apikey_created", args=[obj.pk]))

    def get_urls(self):
        wrap = self.admin_site.admin_view  # also sends Cache-Control: no-store
        created = path("<int:pk>/created/", wrap(self.created_view), name="promptlib_apikey_created")
        return [created, *super().get_urls()]

    def created_view(self, request, pk: int):
        """The new key, once: the session that created it hands it over a single time."""
        waiting = request.session.get(_NEW_KEYS_SESSION, {})
        raw = waiting.pop(str(pk), None)
        if raw is not None:
            request.session[_NEW_KEYS_SESSION] = waiting
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Your new API key" if raw else "API key already shown",
            "raw_key": raw,
            "api_docs_url": reverse("api-docs"),
        }
        if raw:
            api_key = ApiKey.objects.filter(pk=pk).first()
            context.update(_snippets(request, raw=raw, project_id=api_key.project_id if api_key else None))
        return TemplateResponse(request, "admin/promptlib/apikey/created.html", context)

    @admin.action(description="Revoke selected keys", permissions=["publish"])
    def revoke_keys(self, request, queryset):
        revoked = 0
        for api_key in queryset:
            if user_may(request, Role.PUBLISHER, api_key.project_id):
                api_key_revoke(api_key=api_key)
                revoked += 1
        self.message_user(request, f"{revoked} key(s) revoked.", messages.SUCCESS)

    def has_publish_permission(self, request):
        return user_may(request, Role.PUBLISHER)


def _sample_call(project_id: int | None) -> dict[str, Any]:
    """The render request body for a prompt of the project, with values for its variables, so the snippets
    run as pasted: its production version, else its newest ("latest")."""
    template = templates_list(project_id=project_id).order_by("slug").first() if project_id else None
    if template is None:
        return {"slug": "your-prompt", "body": {"variables": {}}}
    version = version_for_label(template=template, label="production")
    body: dict[str, Any] = {} if version else {"label": "latest"}
    version = version or version_latest(template=template)
    variables = {}
    for var in version.variables if version else []:
        default = var.get("default")
        variables[var["name"]] = default if default is not None else _SAMPLE_VALUES.get(var.get("type"), "text")
    return {"slug": template.slug, "body": {**body, "variables": variables}}


def _snippets(request, *, raw: str, project_id: int | None) -> dict[str, str]:
    """A ready curl command and Python code that fetch one of the project's prompts with the new key."""
    call = _sample_call(project_id)
    slug, body = call["slug"], call["body"]
    base = request.build_absolute_uri("/").rstrip("/")
    curl = (
        f"curl -X POST {base}/api/v1/templates/{slug}/render \\\n"
        f'  -H "Authorization: Bearer {raw}" -H "Content-Type: application/json" \\\n'
        f"  -d {shlex.quote(json.dumps(body, ensure_ascii=False))}"
    )
    label = f', label="{body["label"]}"' if "label" in body else ""
    python = (
        "# pip install ./clients/python (from promptlib's repository)\n"
        "from promptlib_client import PromptClient\n\n"
        f'client = PromptClient("{base}", api_key="{raw}")\n'
        f'prompt = client.get_prompt("{slug}"{label}, variables={body["variables"]!r})\n'
        "print(prompt.messages)"
    )
    listing = f'curl -H "Authorization: Bearer {raw}" {base}/api/v1/templates'
    return {"curl_example": curl, "python_example": python, "list_example": listing}
