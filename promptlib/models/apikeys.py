from django.conf import settings
from django.db import models


class ApiKey(models.Model):
    """A per-project credential for applications. Only a hash of the secret is stored."""

    project_path = "project"  # ORM path to the owning Project, used for scoping

    class Scope(models.TextChoices):
        READ = "read", "Read (fetch, render, report outcomes)"
        WRITE = "write", "Write (also create versions, move labels)"

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
