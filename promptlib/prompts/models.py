from django.conf import settings
from django.db import models


class Template(models.Model):
    project_path = "project"  # ORM path to the owning Project, used for scoping

    project = models.ForeignKey("promptlib.Project", on_delete=models.CASCADE, related_name="templates")
    slug = models.SlugField(max_length=120)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True, help_text="A list of short words, e.g. email, support.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project__name", "slug"]
        constraints = [models.UniqueConstraint(fields=["project", "slug"], name="uniq_template_slug_per_project")]

    def __str__(self) -> str:
        return self.slug


class ImmutableVersionError(Exception):
    """A saved version never changes: create a new one instead."""


class VersionQuerySet(models.QuerySet):
    # Versions are immutable history: the bulk write paths the ORM offers are closed too. A version
    # goes away only with its template (a cascade, which does not pass through QuerySet.delete).
    def update(self, **kwargs):
        raise ImmutableVersionError("Versions are immutable; create a new version instead.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise ImmutableVersionError("Versions are immutable; create a new version instead.")

    def update_or_create(self, *args, **kwargs):
        raise ImmutableVersionError("Versions are immutable; create a new version instead.")

    def delete(self):
        raise ImmutableVersionError("Versions are history and cannot be deleted; delete the template instead.")


class Version(models.Model):
    """One immutable snapshot of a template's content, numbered 1, 2, 3… per template."""

    project_path = "template__project"  # ORM path to the owning Project, used for scoping
    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    # The five sections, each an optional Jinja2 text.
    role = models.TextField(blank=True)
    task = models.TextField(blank=True)
    context = models.TextField(blank=True)
    format = models.TextField(blank=True)
    constraints = models.TextField(blank=True)
    # [{"input": str, "output": str}, ...] in order.
    examples = models.JSONField(default=list, blank=True)
    # [{"name", "type", "required", "default", "description"}, ...]
    variables = models.JSONField(default=list, blank=True)
    # Model settings.
    provider = models.CharField(max_length=80, blank=True)
    model = models.CharField(max_length=200, blank=True)
    temperature = models.FloatField(null=True, blank=True)
    max_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_schema = models.JSONField(null=True, blank=True)
    # The retrieval block (promptlib.prompts.content.RETRIEVAL_FIELDS), or None: no knowledge base.
    retrieval = models.JSONField(null=True, blank=True)

    content_hash = models.CharField(max_length=64, db_index=True)
    change_note = models.TextField(blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = VersionQuerySet.as_manager()

    class Meta:
        ordering = ["template", "-number"]
        constraints = [models.UniqueConstraint(fields=["template", "number"], name="uniq_version_number")]

    def __str__(self) -> str:
        return f"{self.template.slug} v{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.pop("_allow_update", False):
            raise ImmutableVersionError("Versions are immutable; create a new version instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableVersionError("Versions are history and cannot be deleted; delete the template instead.")


LABEL_NAME_MAX = 60  # a label's name: production, staging, …


class Label(models.Model):
    """A named pointer (production, staging, …) from a template to one of its versions."""

    project_path = "template__project"  # ORM path to the owning Project, used for scoping
    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="labels")
    name = models.SlugField(max_length=LABEL_NAME_MAX)
    version = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="labels")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["template", "name"]
        constraints = [models.UniqueConstraint(fields=["template", "name"], name="uniq_label_per_template")]

    def __str__(self) -> str:
        return f"{self.name} → v{self.version.number}"


class LabelEvent(models.Model):
    """The history of every label move and removal; never edited."""

    project_path = "template__project"  # ORM path to the owning Project, used for scoping

    class Action(models.TextChoices):
        MOVE = "move", "Moved"
        REMOVE = "remove", "Removed"

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="label_events")
    label = models.CharField(max_length=LABEL_NAME_MAX)
    action = models.CharField(max_length=10, choices=Action.choices)
    from_version = models.ForeignKey(Version, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    to_version = models.ForeignKey(Version, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    via = models.CharField(max_length=40, blank=True, help_text="admin, api, import, promotion…")
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.label}: {self.action}"
