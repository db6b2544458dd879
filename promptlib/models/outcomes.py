from django.db import models
from django.utils import timezone


class OutcomeEvent(models.Model):
    """One measured outcome (a metric value) for one subject in one experiment variant."""

    project_path = "project"  # ORM path to the owning Project, used for scoping

    project = models.ForeignKey("promptlib.Project", on_delete=models.CASCADE, related_name="outcome_events")
    experiment = models.ForeignKey("promptlib.Experiment", on_delete=models.CASCADE, related_name="outcome_events")
    variant = models.ForeignKey("promptlib.Variant", on_delete=models.CASCADE, related_name="outcome_events")
    subject = models.CharField(max_length=200)
    metric = models.CharField(max_length=80)
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
