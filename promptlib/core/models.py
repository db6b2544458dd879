from __future__ import annotations

from django.conf import settings
from django.db import models


class Project(models.Model):
    """A workspace (a brand, a client, a team); everything else belongs to exactly one."""

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer (read only)"
    EDITOR = "editor", "Editor (creates versions)"
    PUBLISHER = "publisher", "Publisher (also moves labels)"


# Higher rank includes the rights of the lower ones.
ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.PUBLISHER: 3}


def role_at_least(actual: str | None, role: str) -> bool:
    """Whether a member with role `actual` (None: not a member) may do what `role` may."""
    return actual is not None and ROLE_RANK[actual] >= ROLE_RANK[role]


class Membership(models.Model):
    project_path = "project"  # ORM path to the owning Project, used for scoping

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="uniq_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"


class ApiKey(models.Model):
    """A per-project credential for applications. Only a hash of the secret is stored."""

    project_path = "project"  # ORM path to the owning Project, used for scoping

    class Scope(models.TextChoices):
        READ = "read", "Read (fetch, render, report outcomes)"
        WRITE = "write", "Write (also create versions, move labels)"
        # Only publishers create keys (admin, or the operator's create_api_key command).
        PROVIDERS = "providers", "Providers (also add and change providers and their API keys)"

    project = models.ForeignKey("promptlib.Project", on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    # The visible part of the key ("pl_<prefix>_…"): identifies it in lists and logs.
    prefix = models.CharField(max_length=8, unique=True)
    # sha256 of the full key: enough for 190-bit random secrets, and a lookup needs no scan.
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"pl_{self.prefix}_… ({self.name or 'unnamed'})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
