"""Who may do what in which project. Superusers may do everything everywhere."""

from __future__ import annotations

from django.db.models import QuerySet

from promptlib.core.models import ROLE_RANK, Membership, Project, Role, role_at_least


class PermissionDenied(Exception):  # noqa: N818 - mirrors django.core.exceptions.PermissionDenied
    pass


def user_role(*, user, project_id: int) -> str | None:
    if not user or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return Role.PUBLISHER
    membership = Membership.objects.filter(user=user, project_id=project_id).only("role").first()
    return membership.role if membership else None


def user_has_role(*, user, project_id: int, role: str) -> bool:
    actual = user_role(user=user, project_id=project_id)
    return role_at_least(actual, role)


def projects_for_user(*, user, role: str = Role.VIEWER) -> QuerySet[Project]:
    if not user or not user.is_authenticated or not user.is_active:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    allowed = [r for r, rank in ROLE_RANK.items() if rank >= ROLE_RANK[role]]
    return Project.objects.filter(memberships__user=user, memberships__role__in=allowed).distinct()


def require_role(*, user, project_id: int, role: str, action: str) -> None:
    if not user_has_role(user=user, project_id=project_id, role=role):
        raise PermissionDenied(f"You need the {role} role in this project to {action}.")
