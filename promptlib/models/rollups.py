"""Per-batch rollups of batch items: what the experiment report reads instead of every call.

Built when a batch finishes (promptlib.services.rollups) and rebuilt when they no longer match the
batch: BatchRollup records what they were built from. Columns are named after the report's sums
(promptlib.analysis.sums) and are additive, so summing rows gives the same totals as the items.
"""

from django.db import models


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
    cost_sq = models.FloatField()
    cost_ok_sum = models.BigIntegerField(null=True)  # NULL: no successful call, as SQL's SUM of nothing
    input_tokens_sum = models.FloatField()
    input_tokens_sq = models.FloatField()
    output_tokens_sum = models.FloatField()
    output_tokens_sq = models.FloatField()
    latency_n = models.PositiveIntegerField()
    latency_sum = models.FloatField(null=True)

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
