"""Input and output shapes of the dataset, scorer and batch endpoints."""

from __future__ import annotations

from rest_framework import serializers

from promptlib.api.serializers import MAX_BIGINT, MAX_INT
from promptlib.batches.models import Batch
from promptlib.core.jsonvalues import json_problem
from promptlib.scorers import SCORER_KINDS


class DatasetInSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    template = serializers.SlugField(
        max_length=120, required=False, allow_blank=True, default="",
        help_text="The slug of the template whose variables the cases fill: imports are typed and checked.",
    )  # fmt: skip
    variables = serializers.ListField(
        child=serializers.DictField(), required=False, default=list, max_length=200,
        help_text='Without a template: the variables the cases fill, e.g. [{"name": "tags", "type": "list"}].',
    )  # fmt: skip


class DatasetOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    template = serializers.CharField(allow_null=True)
    version = serializers.IntegerField(help_text="1, then one more with each import into a dataset with cases.")
    cases = serializers.IntegerField()


class CasesImportSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["csv", "jsonl"])
    content = serializers.CharField(max_length=20 * 1024 * 1024, trim_whitespace=False)
    replace = serializers.BooleanField(required=False, default=False)


class ScorerInSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=sorted(SCORER_KINDS))
    name = serializers.CharField(max_length=60)
    config = serializers.DictField(required=False, default=dict)
    order = serializers.IntegerField(min_value=0, max_value=MAX_INT, required=False, default=0)
    counts_for_success = serializers.BooleanField(required=False, default=True)

    def validate_config(self, value: dict) -> dict:
        problem = json_problem(value)
        if problem:
            raise serializers.ValidationError(f"The value {problem}.")
        return value


class ScorerOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    name = serializers.CharField()
    config = serializers.DictField()
    order = serializers.IntegerField()
    counts_for_success = serializers.BooleanField()


class BatchInSerializer(serializers.Serializer):
    experiment = serializers.IntegerField(min_value=1, max_value=MAX_BIGINT, help_text="Experiment id.")
    dataset = serializers.CharField(max_length=120, help_text="Dataset id or name.")
    provider = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Provider name; blank = each variant's own."
    )
    model = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    repeats = serializers.IntegerField(required=False, default=1, max_value=MAX_INT)  # 1..MAX_REPEATS: the service
    tags = serializers.ListField(child=serializers.CharField(max_length=60), required=False, default=list)
    variants = serializers.ListField(child=serializers.CharField(max_length=40), required=False, default=list)
    use_cache = serializers.BooleanField(required=False, default=False)
    start = serializers.BooleanField(required=False, default=True, help_text="Start at once (default).")


class BatchPatchSerializer(serializers.Serializer):
    # Plain text rather than a choice: an enum named "status" would collide with the experiment's in the schema.
    status = serializers.CharField(
        help_text="running = start a pending batch (a preparing one starts once prepared); cancelled = stop it."
    )

    def validate_status(self, value: str) -> str:
        if value not in (Batch.Status.RUNNING, Batch.Status.CANCELLED):
            raise serializers.ValidationError("Use running (start) or cancelled (stop).")
        return value


class BatchProgressSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text="preparing (its calls are being written), pending, running, …")
    total = serializers.IntegerField()
    prepared = serializers.IntegerField(help_text="Calls written so far (all of them once it is not preparing).")
    prepared_percent = serializers.FloatField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    pending = serializers.IntegerField()
    running = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    percent = serializers.FloatField()
    calls_per_second = serializers.FloatField()
    eta_seconds = serializers.IntegerField(allow_null=True)
    elapsed_seconds = serializers.FloatField(allow_null=True)
    error = serializers.CharField()


class BatchOutSerializer(BatchProgressSerializer):
    experiment = serializers.IntegerField()
    dataset = serializers.IntegerField()
    repeats = serializers.IntegerField()
    variants = serializers.ListField(child=serializers.DictField(), help_text="Per-variant metrics.")
    errors = serializers.ListField(
        child=serializers.DictField(), help_text="Failed calls by kind of error: {kind, count, example}, most first."
    )


class BatchItemOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    variant = serializers.CharField(help_text="The variant's key.")
    case = serializers.IntegerField(help_text="The dataset case's id.")
    repeat = serializers.IntegerField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    error_kind = serializers.CharField()
    error = serializers.CharField()
