"""Admin for templates (the editor), their read-only versions and their labels."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Prefetch, Subquery
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from promptlib.admin.base import ProjectListFilter, ProjectScopedAdmin, ReadOnlyAdminMixin, scope_queryset
from promptlib.prompts.admin import views as template_views
from promptlib.prompts.admin.forms import TemplateForm, format_value
from promptlib.prompts.admin.playground import playground_context, playground_urls
from promptlib.prompts.content import SECTIONS
from promptlib.prompts.models import Label, Template, Version
from promptlib.prompts.services import template_create, version_create


class TagFilter(admin.SimpleListFilter):
    title = "tag"
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        tags = set()
        for row in scope_queryset(Template.objects.all(), request).values_list("tags", flat=True):
            tags.update(t for t in row or [] if isinstance(t, str))
        return [(t, t) for t in sorted(tags)]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        # Matches the quoted JSON string inside the list; works on SQLite and PostgreSQL alike.
        return queryset.filter(tags__icontains=json.dumps(self.value()))


class LabelFilter(admin.SimpleListFilter):
    title = "label"
    parameter_name = "label"

    def lookups(self, request, model_admin):
        names = scope_queryset(Label.objects.all(), request).values_list("name", flat=True).distinct()
        return [(n, n) for n in sorted(set(names))]

    def queryset(self, request, queryset):
        return queryset.filter(labels__name=self.value()) if self.value() else queryset


def _label_badges(labels) -> str:
    return format_html_join(
        " ", '<span class="promptlib-label">{} → v{}</span>', ((lb.name, lb.version.number) for lb in labels)
    )


@admin.register(Template)
class TemplateAdmin(ProjectScopedAdmin):
    empty_help = "No templates yet. Click “Add template” to write your first prompt, preview it and save version 1."
    form = TemplateForm
    change_form_template = "admin/promptlib/template/change_form.html"
    list_display = ("slug", "title", "project", "tag_list", "latest", "production", "labels_column", "updated_at")
    list_display_links = ("slug", "title")
    list_select_related = ("project",)
    list_filter = (ProjectListFilter, TagFilter, LabelFilter)
    search_fields = ("slug", "title", "description")
    search_help_text = "Search by slug, title or description."
    list_per_page = 50

    def get_queryset(self, request):
        versions = Version.objects.filter(template=OuterRef("pk"))
        production = Label.objects.filter(template=OuterRef("pk"), name="production")
        return (
            super()
            .get_queryset(request)
            .annotate(
                latest_number=Subquery(versions.order_by("-number").values("number")[:1]),
                production_number=Subquery(production.values("version__number")[:1]),
            )
            .prefetch_related(Prefetch("labels", queryset=Label.objects.select_related("version").order_by("name")))
        )

    # --- list columns --------------------------------------------------------------------
    @admin.display(description="Tags")
    def tag_list(self, obj):
        return ", ".join(obj.tags or []) or "—"

    @admin.display(description="Latest", ordering="latest_number")
    def latest(self, obj):
        return f"v{obj.latest_number}" if obj.latest_number else "—"

    @admin.display(description="Production", ordering="production_number")
    def production(self, obj):
        return f"v{obj.production_number}" if obj.production_number else "—"

    @admin.display(description="Labels")
    def labels_column(self, obj):
        return _label_badges(obj.labels.all()) or "—"

    # --- the editor ----------------------------------------------------------------------
    def get_fieldsets(self, request, obj=None):
        details = (None, {"fields": ("project", "slug", "title", "description", "tags")})
        if obj is not None and not self.has_change_permission(request, obj):
            return [details]
        return [
            details,
            (
                "Prompt",
                {
                    "fields": SECTIONS,
                    "description": "Write each part in plain language. Insert a variable with "
                    "<code>{{ name }}</code>; every variable you use must be declared below.",
                },
            ),
            ("Model settings", {"fields": (("provider", "model"), ("temperature", "max_tokens"), "output_schema")}),
            (
                "Knowledge base",
                {
                    "fields": (
                        "retrieval_knowledge_base",
                        "retrieval_query",
                        ("retrieval_top_k", "retrieval_mode"),
                        ("retrieval_snapshot", "retrieval_label"),
                        "retrieval_tags",
                    ),  # fmt: skip
                    "description": "Optional. Look up passages of a knowledge base for each answer and give them to "
                    "the prompt, so that answers quote your policies, prices and guides.",
                },
            ),
            ("Save as a new version", {"fields": ("change_note",), "description": self._save_hint(obj)}),
        ]

    @staticmethod
    def _save_hint(obj) -> str:
        latest = getattr(obj, "latest_number", None)
        if not latest:
            return "Saving creates version 1."
        return (
            f"Saving creates version {latest + 1} if anything in the prompt changed; version {latest} stays as it is."
        )

    def get_readonly_fields(self, request, obj=None):
        # Applications fetch templates by (project, slug): changing either would break them.
        return ("project", "slug") if obj is not None else ()

    def save_model(self, request, obj, form, change):
        if not self.has_role(request, self.edit_role, obj):
            raise PermissionDenied
        if not change:
            saved = template_create(
                project=obj.project, slug=obj.slug, title=obj.title, description=obj.description, tags=obj.tags
            )
            vars(obj).update(vars(saved))  # the admin goes on with the form's instance
        elif {"title", "description", "tags"} & set(form.changed_data):
            obj.save(update_fields=["title", "description", "tags", "updated_at"])
        version, created = version_create(
            template=obj, content=form.content, author=request.user, change_note=form.cleaned_data["change_note"]
        )
        if created:
            request._promptlib_message = f"Saved version {version.number} of “{obj.slug}”."
        else:
            request._promptlib_message = (
                f"Nothing changed in the prompt, so no new version was made: “{obj.slug}” stays at "
                f"version {version.number}."
            )

    def message_user(self, request, message, level=messages.INFO, *args, **kwargs):
        # Replace Django's generic "changed successfully" with what happened to the versions.
        if level == messages.SUCCESS and getattr(request, "_promptlib_message", None):
            message = request._promptlib_message
        super().message_user(request, message, level, *args, **kwargs)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.update(template_views.editor_context(self, request, obj))
        context.update(playground_context(self, request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("preview/", wrap(template_views.preview_view(self)), name=f"{info}_preview_new"),
            path("<path:object_id>/diff/", wrap(template_views.diff_view(self)), name=f"{info}_diff"),
            path("<path:object_id>/preview/", wrap(template_views.preview_view(self)), name=f"{info}_preview"),
            path("<path:object_id>/labels/", wrap(template_views.labels_view(self)), name=f"{info}_labels"),
            *playground_urls(self),
            *super().get_urls(),
        ]


def _pretty_json(value) -> str:
    if value in (None, [], {}):
        return "—"
    return format_html('<pre class="promptlib-pre">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False))


@admin.register(Version)
class VersionAdmin(ReadOnlyAdminMixin, ProjectScopedAdmin):
    """Versions are immutable: a view page, never a change or delete page."""

    empty_help = "No versions yet: saving a template creates its first version."

    change_form_template = "admin/promptlib/version/change_form.html"
    list_display = ("__str__", "template_title", "number", "author", "created_at", "change_note")
    list_select_related = ("template", "author")
    list_filter = (ProjectListFilter,)
    search_fields = ("template__slug", "template__title", "change_note")
    fieldsets = [
        (None, {"fields": ("template_link", "number", "author", "created_at", "change_note", "labels_here")}),
        ("Prompt", {"fields": SECTIONS}),
        ("Examples and variables", {"fields": ("examples_pretty", "variables_pretty")}),
        ("Model settings", {"fields": ("provider", "model", "temperature", "max_tokens", "schema_pretty")}),
        ("Knowledge base", {"fields": ("retrieval_text",)}),
    ]
    readonly_fields = [name for _, options in fieldsets for name in options["fields"]]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("template")

    @admin.display(description="Template", ordering="template__title")
    def template_title(self, obj):
        return obj.template.title

    @admin.display(description="Template")
    def template_link(self, obj):
        url = reverse("admin:promptlib_template_change", args=[obj.template_id])
        return format_html('<a href="{}">{}</a>', url, obj.template.title)

    @admin.display(description="Labels pointing here")
    def labels_here(self, obj):
        return ", ".join(obj.labels.order_by("name").values_list("name", flat=True)) or "—"

    @admin.display(description="Examples")
    def examples_pretty(self, obj):
        if not obj.examples:
            return "—"
        return format_html_join(
            "",
            '<div class="promptlib-example"><strong>Example {}</strong><dl class="promptlib-values">'
            '<dt>Input</dt><dd><pre class="promptlib-pre">{}</pre></dd>'
            '<dt>Ideal output</dt><dd><pre class="promptlib-pre">{}</pre></dd></dl></div>',
            ((i, ex.get("input", ""), ex.get("output", "")) for i, ex in enumerate(obj.examples, start=1)),
        )

    @admin.display(description="Variables")
    def variables_pretty(self, obj):
        if not obj.variables:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    var["name"],
                    var.get("type", "string"),
                    "yes" if var.get("required") else "no",
                    format_value(var.get("default")) or "—",
                    var.get("description") or "",
                )
                for var in obj.variables
            ),
        )
        return format_html(
            "<table><thead><tr><th>Name</th><th>Type</th><th>Required</th><th>Default</th><th>Description</th>"
            "</tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="Output JSON schema")
    def schema_pretty(self, obj):
        return _pretty_json(obj.output_schema)

    @admin.display(description="Retrieval")
    def retrieval_text(self, obj):
        """The retrieval block in words: which knowledge base, which snapshot, what is searched."""
        block = obj.retrieval
        if not block:
            return "None: this version uses no knowledge base."
        snapshot = f"snapshot {block['snapshot']} (pinned)" if block.get("snapshot") else f"label “{block['label']}”"
        tags = f", only passages tagged {', '.join(block['tags'])}" if block.get("tags") else ""
        return format_html(
            "{} passages from <strong>{}</strong>, {}, matched by {}{}, searching for <code>{}</code>.",
            block["top_k"], block["knowledge_base"], snapshot, block["mode"], tags, block["query"],
        )  # fmt: skip

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            previous = obj.template.versions.filter(number__lt=obj.number).order_by("-number").first()
            diff = reverse("admin:promptlib_template_diff", args=[obj.template_id])
            context["diff_url"] = f"{diff}?a={previous.number}&b={obj.number}" if previous else ""
        return super().render_change_form(request, context, add, change, form_url, obj)


@admin.register(Label)
class LabelAdmin(ReadOnlyAdminMixin, ProjectScopedAdmin):
    """Where every label points, across templates. Labels are moved on the template's page."""

    empty_help = "No labels yet. A publisher publishes a version from its template's page, in the Labels panel."

    list_display = ("name", "template_link", "version_number", "updated_by", "updated_at")
    list_select_related = ("template", "version", "updated_by")
    list_filter = (ProjectListFilter, "name")
    search_fields = ("name", "template__slug", "template__title")

    @admin.display(description="Template", ordering="template__slug")
    def template_link(self, obj):
        url = reverse("admin:promptlib_template_change", args=[obj.template_id])
        return format_html('<a href="{}#labels">{}</a>', url, obj.template.slug)

    @admin.display(description="Version", ordering="version__number")
    def version_number(self, obj):
        return f"v{obj.version.number}"
