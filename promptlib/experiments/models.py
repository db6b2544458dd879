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


class OutcomeSubjectSum(models.Model):
    """One subject's outcomes on one metric, summed: what the production report reads (not the events).

    Kept up to date by promptlib.experiments.outcomes as events are stored; rebuilt from the events by
    outcome_sums_rebuild. A million events over 200,000 users become 200,000 rows.
    """

    experiment = models.ForeignKey("promptlib.Experiment", on_delete=models.CASCADE, related_name="+")
    variant = models.ForeignKey("promptlib.Variant", on_delete=models.CASCADE, related_name="+")
    metric = models.CharField(max_length=METRIC_NAME_MAX)
    subject = models.CharField(max_length=200)
    events = models.BigIntegerField(default=0)
    total = models.FloatField(default=0.0)
    booleans = models.BigIntegerField(default=0)  # events sent as true/false

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["variant", "metric", "subject"], name="uniq_outcome_subject_sum")
        ]
        indexes = [models.Index(fields=["experiment"], name="outcome_subject_by_experiment")]


class OutcomeDaySum(models.Model):
    """Events and their sum per variant, metric and day (UTC): the production charts over time."""

    experiment = models.ForeignKey("promptlib.Experiment", on_delete=models.CASCADE, related_name="+")
    variant = models.ForeignKey("promptlib.Variant", on_delete=models.CASCADE, related_name="+")
    metric = models.CharField(max_length=METRIC_NAME_MAX)
    day = models.DateField()
    events = models.BigIntegerField(default=0)
    total = models.FloatField(default=0.0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["variant", "metric", "day"], name="uniq_outcome_day_sum")]
        indexes = [models.Index(fields=["experiment", "day"], name="outcome_day_by_experiment")]


class ApplicationMetric(models.Model):
    """A metric an application reports as outcomes, registered with what "better" means for it.

    An outcome metric nobody registered has no direction: it is shown, but it never names a winner.
    """

    project_path = "project"  # ORM path to the owning Project, used for scoping

    class Direction(models.TextChoices):
        HIGHER = "higher", "Higher is better"
        LOWER = "lower", "Lower is better"

    class Kind(models.TextChoices):
        RATE = "rate", "Yes/no (a share of users or events)"
        MEAN = "mean", "A number (averaged)"

    project = models.ForeignKey("promptlib.Project", on_delete=models.CASCADE, related_name="application_metrics")
    name = models.CharField(
        max_length=METRIC_NAME_MAX, help_text="The name your application sends with each outcome, e.g. converted."
    )
    label = models.CharField(max_length=120, help_text="What people read on the experiment page, e.g. Complaints.")
    direction = models.CharField(
        max_length=6,
        choices=Direction.choices,
        help_text="Whether a rise is good news (sign-ups) or bad news (complaints, refunds).",
    )
    kind = models.CharField(max_length=4, choices=Kind.choices, default=Kind.RATE)
    unit = models.CharField(
        max_length=30,
        blank=True,
        help_text="For numbers: what one unit is, e.g. USD, seconds, items. Empty for yes/no.",
    )
    # In the metric's own units; used when an experiment's primary metric is this number.
    minimum_effect = models.FloatField(
        null=True,
        blank=True,
        help_text="For numbers: the smallest change worth detecting, in the unit above (e.g. 2 for 2 USD).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="uniq_application_metric_name")]

    def __str__(self) -> str:
        return self.label or self.name


class ExposureCount(models.Model):
    """Renders and distinct subjects of one variant, per day, and (day empty) over the whole experiment.

    Written by the exposure flush (promptlib.experiments.exposures), never on the render path.
    `exact` is False when subjects were counted by a Redis HyperLogLog (about 0.8% standard error).
    """

    experiment = models.ForeignKey("promptlib.Experiment", on_delete=models.CASCADE, related_name="exposures")
    variant = models.ForeignKey("promptlib.Variant", on_delete=models.CASCADE, related_name="exposures")
    day = models.DateField(null=True, blank=True)
    renders = models.BigIntegerField(default=0)
    subjects = models.BigIntegerField(default=0)
    exact = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["variant", "day"], name="uniq_exposure_variant_day"),
            models.UniqueConstraint(
                fields=["variant"], condition=models.Q(day__isnull=True), name="uniq_exposure_variant_total"
            ),
        ]
        indexes = [models.Index(fields=["experiment", "day"], name="exposure_by_experiment_day")]


class ExposedSubject(models.Model):
    """Without Redis: each subject a variant was shown to, once (exact counts; Redis uses a HyperLogLog)."""

    variant = models.ForeignKey("promptlib.Variant", on_delete=models.CASCADE, related_name="+")
    subject = models.CharField(max_length=200)
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["variant", "day", "subject"], name="uniq_exposed_subject_day"),
        ]
