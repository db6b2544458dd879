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


class Membership(models.Model):
    project_path = "project"  # ORM path to the owning Project, used for scoping

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="uniq_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"
