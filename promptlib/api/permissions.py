"""Every request acts for exactly one project, with a set of grants.

An API key brings its project and scopes (read; write = also create versions and move labels;
providers = also add and change providers and their secret keys). A logged-in admin user (browsable
API) picks a project with ?project=<slug> — needed only if they belong to several — and gets the
grants of their role there: viewer reads, editor also creates versions, publisher also moves labels
and manages providers. A project the user is not in answers 404, as if absent.
"""

from __future__ import annotations

from dataclasses import dataclass

from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import NotAuthenticated, NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import BasePermission

from promptlib.core.apikeys import ApiKeyRecord
from promptlib.core.models import Project, Role
from promptlib.core.permissions import projects_for_user, user_role

READ, WRITE_VERSIONS, WRITE_LABELS = "read", "write_versions", "write_labels"
# Provider endpoints and keys decide where secrets and spend go: publishers, and keys they give the scope.
MANAGE_PROVIDERS = "manage_providers"
GRANTS_BY_SCOPE = {"read": {READ}, "write": {READ, WRITE_VERSIONS, WRITE_LABELS}, "providers": {READ, MANAGE_PROVIDERS}}
GRANTS_BY_ROLE = {
    Role.VIEWER: {READ},
    Role.EDITOR: {READ, WRITE_VERSIONS},
    Role.PUBLISHER: {READ, WRITE_VERSIONS, WRITE_LABELS, MANAGE_PROVIDERS},
}
_NEEDS = {
    WRITE_VERSIONS: ("an API key with the write scope", "editor"),
    WRITE_LABELS: ("an API key with the write scope", "publisher"),
    MANAGE_PROVIDERS: ("an API key with the providers scope", "publisher"),
    READ: ("an API key", "viewer"),
}

PROJECT_PARAMETER = OpenApiParameter(
    "project",
    str,
    OpenApiParameter.QUERY,
    required=False,
    description="Browsable API only (session login): the slug of the project to act in. API keys ignore it.",
)


@dataclass(frozen=True)
class Principal:
    project_id: int
    grants: frozenset[str]
    via_key: bool


def _session_project(request) -> Project:
    slug = request.query_params.get("project")
    mine = projects_for_user(user=request.user)
    if slug is None:
        projects = list(mine[:2])
        if len(projects) == 1:
            return projects[0]
        if not projects:
            raise NotFound("You are not a member of any project.")
        raise ValidationError({"project": ["You belong to several projects: choose one with ?project=<slug>."]})
    found = mine.filter(slug=slug[:80]).first() if "\x00" not in slug else None
    if found is None:
        raise NotFound("No such project.")
    return found


def request_principal(request) -> Principal:
    cached = getattr(request, "_promptlib_principal", None)
    if cached is not None:
        return cached
    if isinstance(request.auth, ApiKeyRecord):
        grants = set().union(*(GRANTS_BY_SCOPE.get(scope, set()) for scope in request.auth.scopes))
        principal = Principal(project_id=request.auth.project_id, grants=frozenset(grants), via_key=True)
    elif request.user and request.user.is_authenticated:
        project = _session_project(request)
        role = user_role(user=request.user, project_id=project.pk)
        principal = Principal(project_id=project.pk, grants=frozenset(GRANTS_BY_ROLE.get(role, set())), via_key=False)
    else:
        raise NotAuthenticated("Send an API key: Authorization: Bearer pl_<prefix>_<secret>.")
    request._promptlib_principal = principal
    return principal


class ProjectAccess(BasePermission):
    """Checks the grant a view declares for the request method in `grants` (default: read)."""

    def has_permission(self, request, view) -> bool:
        principal = request_principal(request)
        needed = getattr(view, "grants", {}).get(request.method, READ)
        if needed not in principal.grants:
            key_need, role_need = _NEEDS[needed]
            if principal.via_key:
                raise PermissionDenied(f"This needs {key_need}; this key lacks it.")
            raise PermissionDenied(f"This needs the {role_need} role in this project.")
        return True
