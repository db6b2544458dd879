"""Project scoping for every admin page.

Admin users are members of projects with a role; they see only their projects' objects, in change
lists, detail pages (a guessed URL answers like a missing object) and in every related-object picker.
Superusers see everything. Django's per-model permissions are not used: the membership role is the
permission (viewer reads, editor writes, publisher also moves labels).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404
from django.utils.text import capfirst

from promptlib.admin import site
from promptlib.core.errors import DomainError
from promptlib.core.models import Membership, Project, Role, role_at_least

# Every admin module imports this one, so the site's titles and home page are set here once.
admin.site.site_header = "promptlib"
admin.site.site_title = "promptlib admin"
admin.site.index_title = "Prompt library"
admin.site.index_template = "admin/promptlib/index.html"
site.install()

# A pseudo-role for edit_role / delete_role: only superusers may (projects, memberships).
SUPERUSER_ONLY = "superuser"


def _roles_by_project(request) -> dict[int, str]:
    """The request user's role per project, read once per request (permission checks run often)."""
    if not hasattr(request, "_promptlib_roles"):
        user = request.user
        roles: dict[int, str] = {}
        if user.is_authenticated and user.is_active:
            roles = dict(Membership.objects.filter(user=user).values_list("project_id", "role"))
        request._promptlib_roles = roles
    return request._promptlib_roles


def user_may(request, role: str, project_id: int | None = None) -> bool:
    """May the request user act with `role` in the project (or, without one, in any project)?"""
    user = request.user
    if not user.is_authenticated or not user.is_active or not user.is_staff:
        return False
    if user.is_superuser:
        return True
    if role == SUPERUSER_ONLY:
        return False
    if project_id is None:
        return bool(project_ids_for(request, role))
    actual = _roles_by_project(request).get(project_id)
    return role_at_least(actual, role)


def project_ids_for(request, role: str = Role.VIEWER) -> list[int]:
    return [pid for pid, actual in _roles_by_project(request).items() if role_at_least(actual, role)]


def project_path_of(model, default: str | None = None) -> str:
    """The ORM path from a model to its Project; "" for Project itself."""
    if model is Project:
        return ""
    return default or getattr(model, "project_path", None) or "project"


def scope_queryset(queryset: QuerySet, request, project_path: str | None = None, role: str = Role.VIEWER) -> QuerySet:
    """Filter any queryset to the objects of the request user's projects (where they hold `role`)."""
    if request.user.is_superuser and request.user.is_active:
        return queryset
    path = project_path_of(queryset.model, project_path)
    lookup = f"{path}__in" if path else "pk__in"
    return queryset.filter(**{lookup: project_ids_for(request, role)})


def project_id_of(obj: Model, project_path: str | None = None) -> int | None:
    path = project_path_of(type(obj), project_path)
    if not path:
        return obj.pk
    # Follow the *_id column on the last hop so that no extra query loads the project.
    *hops, last = path.split("__")
    target = obj
    for part in hops:
        target = getattr(target, part, None)
        if target is None:
            return None
    return getattr(target, f"{last}_id", None)


def _scope_choices(queryset: QuerySet, request, edit_role: str) -> QuerySet:
    """Limit a related-object picker to what the user may see (projects: where they may edit)."""
    model = queryset.model
    if request.user.is_superuser:
        return queryset
    if model is Project:
        return scope_queryset(queryset, request, role=edit_role if edit_role != SUPERUSER_ONLY else Role.VIEWER)
    if model is get_user_model():
        # People, too, are visible only within the projects one shares with them.
        return queryset.filter(memberships__project_id__in=project_ids_for(request)).distinct()
    if getattr(model, "project_path", None):
        return scope_queryset(queryset, request)
    return queryset


class ProjectListFilter(admin.SimpleListFilter):
    """The "by project" filter, listing only the projects the user belongs to (the stock filter lists them all)."""

    title = "project"
    parameter_name = "project"

    def lookups(self, request, model_admin):
        projects = scope_queryset(Project.objects.all(), request)
        return [(str(p.pk), p.name) for p in projects.only("pk", "name")]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            project_id = int(self.value())
        except ValueError:
            return queryset.none()
        path = project_path_of(queryset.model)
        return queryset.filter(**{f"{path}_id" if path else "pk": project_id})


class ProjectScopedAdmin(admin.ModelAdmin):
    """Base for every promptlib ModelAdmin.

    `project_path` is the ORM path from the model to its Project ("project", "template__project", …);
    left as None it is taken from the model's own `project_path` attribute.
    `edit_role` is the role needed to add or change objects; `delete_role` to delete them
    (SUPERUSER_ONLY for either restricts it to superusers).
    """

    project_path: str | None = None
    edit_role = Role.EDITOR
    delete_role = Role.PUBLISHER
    show_full_result_count = False

    def get_project_path(self) -> str:
        return project_path_of(self.model, self.project_path)

    # --- the change list speaks plainly ----------------------------------------------------
    empty_help = ""  # shown instead of an empty table: what would be listed and how to add the first one

    def get_empty_help(self, request) -> str:
        return self.empty_help

    def changelist_view(self, request, extra_context=None):
        # "Templates" rather than Django's "Select template to change".
        context = {
            "title": capfirst(self.opts.verbose_name_plural),
            "empty_help": self.get_empty_help(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request, self.get_project_path())

    def scoped_object_or_404(self, request, object_id):
        """For custom views: an object outside the user's projects is as missing as a deleted one."""
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with id {object_id!r}.")
        return obj

    # --- permissions: membership roles, not Django model permissions -----------------------
    def has_role(self, request, role: str, obj=None) -> bool:
        if obj is None:
            return user_may(request, role)
        return user_may(request, role, project_id_of(obj, self.get_project_path()) or -1)

    _has_role = has_role  # the name the first version of this class used

    def has_module_permission(self, request):
        return self.has_role(request, Role.VIEWER)

    def has_view_permission(self, request, obj=None):
        return self.has_role(request, Role.VIEWER, obj)

    def has_add_permission(self, request):
        return self.has_role(request, self.edit_role)

    def has_change_permission(self, request, obj=None):
        return self.has_role(request, self.edit_role, obj)

    def has_delete_permission(self, request, obj=None):
        return self.has_role(request, self.delete_role, obj)

    def save_model(self, request, obj, form, change):
        # The last line of defence (list_editable, changed project field): the saved object's
        # project must be one where the user may edit.
        if not self.has_role(request, self.edit_role, obj):
            raise PermissionDenied
        super().save_model(request, obj, form, change)

    # --- related-object pickers only offer the user's projects' objects ---------------------
    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = _scope_choices(field.queryset, request, self.edit_role)
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = _scope_choices(field.queryset, request, self.edit_role)
        return field


class ReadOnlyAdminMixin:
    """For rows that are shown but never added, changed or deleted here (immutable or history)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ProjectScopedInline(admin.TabularInline):
    """Inline rows follow the permissions of the parent object's project.

    Django passes the *parent* object to an inline's permission methods, so the project is found
    through the parent model's path, not the inline model's.
    """

    extra = 0
    project_path: str | None = None
    edit_role = Role.EDITOR

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request, project_path_of(self.model, self.project_path))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = _scope_choices(field.queryset, request, self.edit_role)
        return field

    def _may(self, request, role: str, parent=None) -> bool:
        if parent is None:
            return user_may(request, role)
        return user_may(request, role, project_id_of(parent) or -1)

    def has_view_permission(self, request, obj=None):
        return self._may(request, Role.VIEWER, obj)

    def has_add_permission(self, request, obj=None):
        return self._may(request, self.edit_role, obj)

    def has_change_permission(self, request, obj=None):
        return self._may(request, self.edit_role, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may(request, self.edit_role, obj)


def form_error_add(form, exc: DomainError, *, fallback: str | None = None) -> None:
    """Put each problem of a refusal on the form field it names.

    A field the form lacks goes to `fallback` (prefixed with its name, e.g. an option inside a
    scorer's settings), else to the form's top.
    """
    for entry in exc.entries():
        field, message = entry["field"], entry["message"]
        if field in form.fields:
            form.add_error(field, message)
        elif fallback:
            form.add_error(fallback, f"{field}: {message}" if field else message)
        else:
            form.add_error(None, message)
