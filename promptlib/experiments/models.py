import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


def _new_salt() -> str:
    return secrets.token_hex(8)


# A metric name as applications report it (the experiment's primary metric and guardrails use the same).
METRIC_NAME_MAX = 80
METRIC_NAME_PATTERN = r"[A-Za-z0-9_.:-]{1,80}"
# A variant's key: short and stable, it is what render answers and outcome reports name.
VARIANT_KEY_MAX = 40
VARIANT_KEY_PATTERN = r"[-a-zA-Z0-9_]{1,40}"


class Experiment(models.Model):
    """An A/B test between versions of one template."""

    project_path = "project"  # ORM path to the owning Project, used for scoping

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        FINISHED = "finished", "Finished"

    project = models.ForeignKey("promptlib.Project", on_delete=models.CASCADE, related_name="experiments")
    template = models.ForeignKey("promptlib.Template", on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # Fixed at creation: assignment = hash(salt, subject), so it needs no storage and never shifts.
    salt = models.CharField(max_length=32, default=_new_salt, editable=False)
    primary_metric = models.CharField(max_length=METRIC_NAME_MAX, default="task_success_rate")
    guardrail_metrics = models.JSONField(default=list, blank=True)
    # Per guardrail, how much worse the challenger may be and still pass: {metric: margin}, a share of
    # the control's value (0.10 = +10%) or points of a rate (0.02 = 2 points); missing = the default.
    guardrail_margins = models.JSONField(default=dict, blank=True)
    # The smallest difference worth detecting, in the primary metric's units (0.05 = 5 points).
    minimum_effect = models.FloatField(default=0.05)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one running experiment per template.
            models.UniqueConstraint(
                fields=["template"], condition=models.Q(status="running"), name="one_running_experiment_per_template"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Variant(models.Model):
    project_path = "experiment__project"  # ORM path to the owning Project, used for scoping

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    # A short stable name used in assignment and reports: "control", "b", "shorter-intro"…
    key = models.SlugField(max_length=VARIANT_KEY_MAX)
    version = models.ForeignKey("promptlib.Version", on_delete=models.PROTECT, related_name="variants")
    weight = models.PositiveIntegerField(default=1)
    is_control = models.BooleanField(default=False)

    class Meta:
        ordering = ["experiment", "-is_control", "key"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "key"], name="uniq_variant_key"),
            models.UniqueConstraint(
                fields=["experiment"], condition=models.Q(is_control=True), name="one_control_per_experiment"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} (v{self.version.number})"


class OutcomeEvent(models.Model):
    """One measured outcome (a metric value) for one subject in one experiment variant."""

    project_path = "project"  # ORM path to the owning Project, used for scoping

    project = models.ForeignKey("promptlib.Project", on_delete=models.CASCADE, related_name="outcome_events")
    experiment = models.ForeignKey("promptlib.Experiment", on_delete=models.CASCADE, related_name="outcome_events")
    variant = models.ForeignKey("promptlib.Variant", on_delete=models.CASCADE, related_name="outcome_events")
    subject = models.CharField(max_length=200)
    metric = models.CharField(max_length=METRIC_NAME_MAX)
    # Booleans are stored as 1.0 / 0.0 so that a mean is a rate; the flag keeps what was sent.
    value = models.FloatField()
    is_boolean = models.BooleanField(default=False)
    # Chosen by the client: a retry with the same id is recognised and never counted twice.
    event_id = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["project", "event_id"], name="uniq_outcome_event_id")]
        indexes = [
            models.Index(fields=["experiment", "variant", "metric"], name="outcome_by_variant_metric"),
            models.Index(fields=["experiment", "created_at"], name="outcome_by_experiment_day"),
        ]

    def __str__(self) -> str:
        return f"{self.metric}={self.value:g} ({self.subject})"
