"""Per-batch rollups of batch items: what the experiment report reads instead of every call.

Built when a batch finishes (promptlib.batches.rollups) and rebuilt when they no longer match the
batch: BatchRollup records what they were built from. Columns are named after the report's sums
(promptlib.batches.sums) and are additive, so summing rows gives the same totals as the items.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class ScorerConfig(models.Model):
    """One scorer run on every output of an experiment's batches (kinds: promptlib.scorers)."""

    project_path = "experiment__project"  # ORM path to the owning Project, used for scoping

    experiment = models.ForeignKey("promptlib.Experiment", on_delete=models.CASCADE, related_name="scorers")
    kind = models.CharField(max_length=40)
    name = models.SlugField(max_length=60, help_text="The metric name shown in results, e.g. category_match.")
    config = models.JSONField(default=dict, blank=True, help_text="The scorer's options.")
    order = models.PositiveIntegerField(default=0)
    # A case succeeds when every scorer that counts and applies passed.
    counts_for_success = models.BooleanField(default=True)

    class Meta:
        ordering = ["experiment", "order", "id"]
        constraints = [models.UniqueConstraint(fields=["experiment", "name"], name="uniq_scorer_name_per_experiment")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class BatchSettings(models.Model):
    """What a batch runs, shared by a batch and by the schedule that starts batches."""

    project = models.ForeignKey("promptlib.Project", on_delete=models.CASCADE, related_name="+")
    experiment = models.ForeignKey("promptlib.Experiment", on_delete=models.CASCADE, related_name="+")
    dataset = models.ForeignKey("promptlib.Dataset", on_delete=models.PROTECT, related_name="+")
    # Blank: each variant's own provider and model settings (the version's provider name).
    provider = models.ForeignKey(
        "promptlib.ProviderConfig", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    model = models.CharField(max_length=200, blank=True, help_text="Blank: the model of each variant's version.")
    repeats = models.PositiveSmallIntegerField(default=1)
    tags = models.JSONField(default=list, blank=True, help_text="Only cases with one of these tags; empty = all.")
    use_cache = models.BooleanField(default=False, help_text="Reuse stored responses of identical calls.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class BatchSchedule(BatchSettings):
    """A batch started again and again by celery beat; every run is kept as its own Batch."""

    project_path = "project"  # ORM path to the owning Project, used for scoping

    name = models.CharField(max_length=200)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Batch(BatchSettings):
    """An experiment's variants × a dataset's cases × repeats, run on Celery workers."""

    project_path = "project"  # ORM path to the owning Project, used for scoping

    class Status(models.TextChoices):
        PREPARING = "preparing", "Preparing"  # its items are being written (promptlib.tasks.batch_prepare)
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    schedule = models.ForeignKey(BatchSchedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    total = models.PositiveIntegerField(default=0)
    # Preparing: the variants whose items are written, how many items are written so far, and whether
    # the batch was asked to start meanwhile (it starts once prepared).
    variant_ids = models.JSONField(default=list, blank=True)
    prepared = models.PositiveIntegerField(default=0)
    start_when_prepared = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return f"Batch {self.pk} of {self.experiment_id}"


class BatchItem(models.Model):
    """One call: (batch, variant, case, repeat) exactly once, with the columns reports aggregate."""

    project_path = "batch__project"  # ORM path to the owning Project, used for scoping

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    # Each row is updated twice per call (claim, result), and every index costs on each update: the
    # foreign keys to batch and variant are covered by the multi-column indexes below, so they get none.
    # No database constraints on the three: rows are written only by promptlib/batches/prepare.py from
    # ids it has just read, and deletes cascade in Django as before; PostgreSQL's per-row foreign-key
    # checks took 70% of the time of writing a 400,000-item batch (bench/batches_create.py).
    batch = models.ForeignKey(
        Batch, on_delete=models.CASCADE, related_name="items", db_index=False, db_constraint=False
    )
    variant = models.ForeignKey(
        "promptlib.Variant", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    case = models.ForeignKey("promptlib.DatasetCase", on_delete=models.CASCADE, related_name="+", db_constraint=False)
    repeat = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # Claims: a worker owns an item while claim_token is its own and lease_until is in the future.
    claim_token = models.CharField(max_length=32, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True, help_text="Waiting for a retry until then.")
    finished_at = models.DateTimeField(null=True, blank=True)
    # Outcome.
    model = models.CharField(max_length=200, blank=True)
    output = models.TextField(blank=True)
    error = models.TextField(blank=True)
    error_kind = models.CharField(max_length=20, blank=True)
    success = models.BooleanField(null=True)
    schema_passed = models.BooleanField(null=True)
    # Every call ever made for this item, re-runs included (calls lost with their worker too: "lost" entries).
    attempts = models.PositiveSmallIntegerField(default=0)
    attempt_log = models.JSONField(default=list, blank=True)
    # attempts when the item was last re-run: the retry budget of the current run counts from here.
    rerun_from = models.PositiveSmallIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(null=True)
    cost_usd = models.FloatField(default=0.0)
    judge_cost_usd = models.FloatField(default=0.0)
    # Judges whose reply could not be read (promptlib.scorers.llm_judge): no verdict, neither pass nor fail.
    judge_unread = models.PositiveSmallIntegerField(default=0, db_default=0)
    # Sent to the review queue to check a judge against people (promptlib.analysis.calibration).
    review_requested = models.BooleanField(default=False, db_default=False)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cached = models.BooleanField(default=False)
    scores = models.JSONField(default=list, blank=True)
    # Retrieval (a version with a knowledge base): the passages given to the model, [{id, source,
    # title, score}], how long finding them took (also counted in latency_ms), and the grounding
    # counts the metrics sum (promptlib.scorers.grounding): expected sources/facts and how many were
    # found in the passages; citations in the answer and how many name a retrieved passage;
    # whether the faithfulness grader passed the answer (None: no such grader ran).
    retrieved = models.JSONField(default=list, blank=True)
    retrieval_ms = models.PositiveIntegerField(null=True)
    context_expected = models.PositiveSmallIntegerField(default=0)
    context_found = models.PositiveSmallIntegerField(default=0)
    citations_made = models.PositiveSmallIntegerField(default=0)
    citations_valid = models.PositiveSmallIntegerField(default=0)
    faithful = models.BooleanField(null=True)

    class Meta:
        ordering = ["batch", "id"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "variant", "case", "repeat"], name="uniq_batch_item_key")
        ]
        indexes = [
            # (batch, variant) lookups use uniq_batch_item_key's prefix. With id last, a worker looking
            # for more pending work of its batch from some id on reads just the rows it returns.
            models.Index(fields=["batch", "status", "id"], name="batchitem_batch_status_id"),
            # Only running rows, for the sweeper's expired leases: storing a result adds no entry here.
            models.Index(fields=["lease_until"], condition=Q(status="running"), name="batchitem_running_lease"),
            models.Index(fields=["variant", "success"], name="batchitem_variant_success"),
            # The few answers sent to the review queue to calibrate a judge.
            models.Index(fields=["batch"], condition=Q(review_requested=True), name="batchitem_review_requested"),
        ]

    def __str__(self) -> str:
        return f"item {self.pk} ({self.status})"


class Review(models.Model):
    """A person's verdict on one output, with the seconds from opening the page to submitting."""

    project_path = "result__batch__project"  # ORM path to the owning Project, used for scoping

    result = models.ForeignKey(BatchItem, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    approved = models.BooleanField()
    edited_output = models.TextField(blank=True)
    seconds = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["result", "reviewer"], name="uniq_review_per_reviewer")]

    def __str__(self) -> str:
        return f"review of {self.result_id}: {'approved' if self.approved else 'rejected'}"


class DatasetQuerySet(models.QuerySet):
    def current(self):
        """The datasets people pick and import into: not the kept copies of their earlier versions."""
        return self.filter(version_of__isnull=True)


class Dataset(models.Model):
    """A named set of test cases (inputs and what a good answer looks like) in one project.

    Versioned: an import makes version n + 1 of the same dataset (same row, same name). The cases of
    version n are kept on a copy of this row (`version_of` set) together with the batches that ran on
    them, so a batch always points at the cases it ran. Its variables come from its template (the
    latest version's declaration), or from `variables` when it has no template.
    """

    project_path = "project"  # ORM path to the owning Project, used for scoping

    project = models.ForeignKey("promptlib.Project", on_delete=models.CASCADE, related_name="datasets")
    name = models.SlugField(max_length=120, help_text="A short name, e.g. support-tickets.")
    description = models.TextField(blank=True)
    template = models.ForeignKey(
        "promptlib.Template",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="datasets",
        help_text="The prompt these cases test: its variables become the columns of the file you import.",
    )
    # [{"name", "type"}, ...] as a version declares them; used when there is no template.
    variables = models.JSONField(default=list, blank=True)
    version = models.PositiveIntegerField(default=1)
    version_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="earlier_versions", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DatasetQuerySet.as_manager()

    class Meta:
        ordering = ["project__name", "name", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"], condition=Q(version_of__isnull=True), name="uniq_dataset_name_per_project"
            ),
            models.UniqueConstraint(fields=["version_of", "version"], name="uniq_dataset_version"),
        ]

    def __str__(self) -> str:
        return self.name if self.version_of_id is None else f"{self.name} (version {self.version})"


class DatasetCase(models.Model):
    """One case: the template variables, and optionally the expected output or fields."""

    project_path = "dataset__project"  # ORM path to the owning Project, used for scoping

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="cases")
    # 1, 2, 3… in import order; stable so that exports and reports list cases the same way.
    position = models.PositiveIntegerField()
    input = models.JSONField(default=dict, help_text='Template variables, e.g. {"ticket": "…"}.')
    expected_output = models.TextField(blank=True)
    expected_fields = models.JSONField(
        default=dict, blank=True, help_text='Fields the answer must contain, e.g. {"category": "billing"}.'
    )
    tags = models.JSONField(default=list, blank=True)
    # With a knowledge base: documents (by source) and facts the retrieved passages should hold.
    expected_sources = models.JSONField(default=list, blank=True)
    expected_facts = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["dataset", "position"]
        constraints = [models.UniqueConstraint(fields=["dataset", "position"], name="uniq_case_position")]

    def __str__(self) -> str:
        return f"{self.dataset.name} #{self.position}"


class BatchRollup(models.Model):
    """The rollups of one finished batch exist and were built from this state of it."""

    batch = models.OneToOneField("promptlib.Batch", on_delete=models.CASCADE, primary_key=True, related_name="+")
    # A batch re-run (failed items again) finishes at a new time; a review can set an item's success.
    finished_at = models.DateTimeField(null=True)  # batches created finished (imports) have none
    reviews = models.PositiveIntegerField(default=0)
    last_review_id = models.BigIntegerField(default=0)
    built_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"rollup of batch {self.batch_id}"


class CallSums(models.Model):
    """Sums over the finished calls (done or failed) of a group, named as the report's sums."""

    batch = models.ForeignKey("promptlib.Batch", on_delete=models.CASCADE, related_name="+")
    variant = models.ForeignKey("promptlib.Variant", on_delete=models.CASCADE, related_name="+")
    calls = models.PositiveIntegerField()
    verdicts = models.PositiveIntegerField()
    successes = models.PositiveIntegerField()
    schema_checked = models.PositiveIntegerField()
    schema_passes = models.PositiveIntegerField()
    attempts_sum = models.FloatField()
    attempts_sq = models.FloatField()
    cost_sum = models.BigIntegerField()  # pico-dollars: summed exactly, in any order
    judge_cost_sum = models.BigIntegerField()
    judge_unread = models.PositiveIntegerField(default=0, db_default=0)  # calls whose judge reply could not be read
    cost_sq = models.FloatField()
    cost_ok_sum = models.BigIntegerField(null=True)  # NULL: no successful call, as SQL's SUM of nothing
    input_tokens_sum = models.FloatField()
    input_tokens_sq = models.FloatField()
    output_tokens_sum = models.FloatField()
    output_tokens_sq = models.FloatField()
    latency_n = models.PositiveIntegerField()
    latency_sum = models.FloatField(null=True)
    # Retrieval (promptlib.experiments.metrics: context_recall … retrieval_ms_mean).
    context_expected_sum = models.FloatField(default=0)
    context_found_sum = models.FloatField(default=0)
    grounded_calls = models.PositiveIntegerField(default=0)
    grounded_hits = models.PositiveIntegerField(default=0)
    citations_made_sum = models.FloatField(default=0)
    citations_valid_sum = models.FloatField(default=0)
    faithful_checked = models.PositiveIntegerField(default=0)
    faithful_passes = models.PositiveIntegerField(default=0)
    retrieval_n = models.PositiveIntegerField(default=0)
    retrieval_ms_sum = models.FloatField(null=True)

    class Meta:
        abstract = True


class BatchVariantSummary(CallSums):
    """One (batch, variant): the time series per run and, summed, the per-variant totals."""

    class Meta:
        constraints = [models.UniqueConstraint(fields=["batch", "variant"], name="uniq_variant_summary_key")]

    def __str__(self) -> str:
        return f"batch {self.batch_id}, variant {self.variant_id}"


class BatchCaseSummary(CallSums):
    """One (batch, variant, case), repeats collapsed: the paired tests' per-case values."""

    case = models.ForeignKey("promptlib.DatasetCase", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch", "variant", "case"], name="uniq_case_summary_key"),
        ]

    def __str__(self) -> str:
        return f"batch {self.batch_id}, variant {self.variant_id}, case {self.case_id}"


class BatchLatencyCount(models.Model):
    """How many done calls of one (batch, variant) took exactly latency_ms: the percentiles' histogram."""

    batch = models.ForeignKey("promptlib.Batch", on_delete=models.CASCADE, related_name="+")
    variant = models.ForeignKey("promptlib.Variant", on_delete=models.CASCADE, related_name="+")
    latency_ms = models.PositiveIntegerField()
    calls = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch", "variant", "latency_ms"], name="uniq_latency_count_key"),
        ]

    def __str__(self) -> str:
        return f"batch {self.batch_id}, variant {self.variant_id}: {self.calls} × {self.latency_ms} ms"
