"""Admin for projects and who belongs to them. Only superusers create projects or change members;
members see their own projects and who else works in them."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count

from promptlib.admin.base import SUPERUSER_ONLY, ProjectListFilter, ProjectScopedAdmin, ProjectScopedInline
from promptlib.core.models import Membership, Project


class MembershipInline(ProjectScopedInline):
    model = Membership
    edit_role = SUPERUSER_ONLY
    autocomplete_fields = ("user",)
    verbose_name = "member"
    verbose_name_plural = "members (viewers read, editors save versions, publishers also move labels)"


@admin.register(Project)
class ProjectAdmin(ProjectScopedAdmin):
    empty_help = "You are not in any project yet. Ask an administrator to add you to one."
    edit_role = SUPERUSER_ONLY
    delete_role = SUPERUSER_ONLY
    inlines = (MembershipInline,)
    list_display = ("name", "slug", "member_count", "template_count", "created_at")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    fieldsets = (
        (None, {"fields": ("name", "slug", "description")}),
        ("Reviews and AI graders", {"fields": ("reviewer_hourly_usd", "judge_kappa_min")}),
    )

    def get_queryset(self, request):
        # distinct: the two joins would otherwise multiply each other's counts.
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_total=Count("memberships", distinct=True),
                template_total=Count("templates", distinct=True),
            )
        )

    @admin.display(description="Members", ordering="member_total")
    def member_count(self, obj):
        return obj.member_total

    @admin.display(description="Templates", ordering="template_total")
    def template_count(self, obj):
        return obj.template_total


@admin.register(Membership)
class MembershipAdmin(ProjectScopedAdmin):
    empty_help = "No members yet. An administrator adds people to a project on the project's page."
    edit_role = SUPERUSER_ONLY
    delete_role = SUPERUSER_ONLY
    list_display = ("user", "project", "role")
    list_select_related = ("user", "project")
    list_filter = (ProjectListFilter, "role")
    search_fields = ("user__username", "user__email", "project__name")
    autocomplete_fields = ("user", "project")
