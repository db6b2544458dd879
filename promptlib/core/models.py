from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Project(models.Model):
    """A workspace (a brand, a client, a team); everything else belongs to exactly one."""

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # What an hour of a reviewer's time costs: review time is part of the cost per successful answer.
    reviewer_hourly_usd = models.DecimalField(
        "reviewer hourly rate (USD)",
        max_digits=8,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="What an hour of reviewing costs you, e.g. 40. Review time then counts in the cost per "
        "successful answer. 0 leaves review time out of the cost.",
    )
    # The agreement with reviewers (Cohen's kappa) below which an AI grader is flagged as not calibrated.
    judge_kappa_min = models.FloatField(
        "agreement an AI grader needs",
        default=0.6,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="How closely an AI grader must agree with your reviewers (Cohen's kappa, 0 to 1) to be "
        "trusted; below it the experiment page flags the grader. 0.6 is the usual bar for good agreement.",
    )
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
