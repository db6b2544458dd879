"""Project scoping for every admin page.

Admin users are members of projects with a role; they see only their projects' objects, in change
lists, detail pages (a guessed URL answers "not found") and in every related-object picker.
Superusers see everything. Django's per-model permissions are not used: the membership role is the
permission (viewer reads, editor writes, publisher also moves labels).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Model, QuerySet

from promptlib.models import Project, Role
from promptlib.permissions import projects_for_user, user_has_role


def project_ids_for(request, role: str = Role.VIEWER) -> list[int]:
    cache_attr = f"_promptlib_project_ids_{role}"
    if not hasattr(request, cache_attr):
        setattr(request, cache_attr, list(projects_for_user(user=request.user, role=role).values_list("id", flat=True)))
    return getattr(request, cache_attr)


def scope_queryset(queryset: QuerySet, request, project_path: str, role: str = Role.VIEWER) -> QuerySet:
    """Filter any queryset to the objects of the request user's projects."""
    if request.user.is_superuser:
        return queryset
    if queryset.model is Project:
        return queryset.filter(id__in=project_ids_for(request, role))
    path = getattr(queryset.model, "project_path", None) or project_path
    return queryset.filter(**{f"{path}__in": project_ids_for(request, role)})


def _project_id_of(obj: Model, project_path: str) -> int | None:
    if isinstance(obj, Project):
        return obj.pk
    target = obj
    for part in project_path.split("__"):
        target = getattr(target, part, None)
        if target is None:
            return None
    return target.pk


class ProjectScopedAdmin(admin.ModelAdmin):
    """Base for every promptlib ModelAdmin.

    `project_path` is the ORM path from the model to its Project ("project", "template__project", …).
    `edit_role` is the role needed to add or change objects; `delete_role` to delete them.
    """

    project_path = "project"
    edit_role = Role.EDITOR
    delete_role = Role.PUBLISHER
    show_full_result_count = False

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request, self.project_path)

    # --- permissions: membership roles, not Django model permissions -----------------------
    def _has_role(self, request, role: str, obj=None) -> bool:
        if not request.user.is_active or not request.user.is_staff:
            return False
        if request.user.is_superuser:
            return True
        if obj is None:
            return bool(project_ids_for(request, role))
        project_id = _project_id_of(obj, self.project_path)
        return project_id is not None and user_has_role(user=request.user, project_id=project_id, role=role)

    def has_module_permission(self, request):
        return self._has_role(request, Role.VIEWER)

    def has_view_permission(self, request, obj=None):
        return self._has_role(request, Role.VIEWER, obj)

    def has_add_permission(self, request):
        return self._has_role(request, self.edit_role)

    def has_change_permission(self, request, obj=None):
        return self._has_role(request, self.edit_role, obj)

    def has_delete_permission(self, request, obj=None):
        return self._has_role(request, self.delete_role, obj)

    # --- related-object pickers only offer the user's projects' objects ---------------------
    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = self._scope_related(field.queryset, request)
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = self._scope_related(field.queryset, request)
        return field

    def _scope_related(self, queryset: QuerySet, request) -> QuerySet:
        model = queryset.model
        if model is Project:
            return scope_queryset(queryset, request, "", role=self.edit_role)
        if getattr(model, "project_path", None):
            return scope_queryset(queryset, request, model.project_path)
        return queryset


class ProjectScopedInline(admin.TabularInline):
    """Inline rows follow the permissions of the page they are on."""

    extra = 0
    project_path = "project"

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request, self.project_path)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            model = field.queryset.model
            if model is Project or getattr(model, "project_path", None):
                field.queryset = scope_queryset(field.queryset, request, getattr(model, "project_path", ""))
        return field

    def has_view_permission(self, request, obj=None):
        return ProjectScopedAdmin._has_role(self, request, Role.VIEWER, obj)

    def has_add_permission(self, request, obj=None):
        return ProjectScopedAdmin._has_role(self, request, Role.EDITOR, obj)

    def has_change_permission(self, request, obj=None):
        return ProjectScopedAdmin._has_role(self, request, Role.EDITOR, obj)

    def has_delete_permission(self, request, obj=None):
        return ProjectScopedAdmin._has_role(self, request, Role.EDITOR, obj)
