"""Input and output shapes of the render, outcome and experiment endpoints."""

from __future__ import annotations

import math
import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from promptlib.api.serializers import MAX_BIGINT, MAX_INT, MAX_TEXT, BulkErrorSerializer, FiniteFloatField
from promptlib.experiments.models import (
    METRIC_NAME_MAX,
    METRIC_NAME_PATTERN,
    VARIANT_KEY_MAX,
    VARIANT_KEY_PATTERN,
    Experiment,
)
from promptlib.prompts.api.serializers import ModelSettingsSerializer
from promptlib.prompts.models import LABEL_NAME_MAX

MAX_EVENTS = 1000
_METRIC_PATTERN = rf"^{METRIC_NAME_PATTERN}$"
_METRIC_HELP = "A metric name: letters, digits, _ . : or -, e.g. task_success_rate or converted."


def _metric_field(**kwargs) -> serializers.RegexField:
    return serializers.RegexField(_METRIC_PATTERN, max_length=METRIC_NAME_MAX, **kwargs)


@extend_schema_field({"oneOf": [{"type": "boolean"}, {"type": "number"}]})
class OutcomeValueField(serializers.Field):
    """true / false, or a finite number."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        if isinstance(data, int | float):
            try:
                if math.isfinite(float(data)):
                    return float(data)
            except OverflowError:
                pass
        raise serializers.ValidationError("The value must be true, false or a finite number.", code="invalid")

    def to_representation(self, value):
        return value


# --- render ------------------------------------------------------------------------------------


class RenderRequestSerializer(serializers.Serializer):
    label = serializers.SlugField(
        max_length=LABEL_NAME_MAX, required=False, help_text='Default: production. "latest" means the newest version.'
    )
    version = serializers.IntegerField(min_value=1, max_value=MAX_INT, required=False)
    variables = serializers.DictField(default=dict, help_text="Values for the template's declared variables.")
    subject = serializers.CharField(
        max_length=200,
        required=False,
        help_text="A stable id of the user or session; with a running experiment it picks the variant.",
    )

    def validate(self, attrs):
        if "label" in attrs and "version" in attrs:
            raise serializers.ValidationError({"version": ["Give a label or a version, not both."]})
        return attrs


_RENDER_SERIALIZER = RenderRequestSerializer()  # run_validation keeps no state on the instance
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,60}")


def render_request_clean(data: Any) -> dict[str, Any]:
    """RenderRequestSerializer's result, without its cost for the common well-formed body.

    A body made only of values the serializer would take unchanged is returned as is; anything
    else (wrong types, whitespace, limits, both label and version) goes through the serializer,
    which words the errors and applies its coercions.
    """
    if type(data) is not dict:
        return _RENDER_SERIALIZER.run_validation(data)
    clean: dict[str, Any] = {"variables": data.get("variables", {})}
    label, version, subject = data.get("label"), data.get("version"), data.get("subject")
    if (
        type(clean["variables"]) is not dict
        or ("label" in data and (type(label) is not str or not _SLUG.fullmatch(label)))
        or ("version" in data and (type(version) is not int or not 0 < version <= MAX_INT or "label" in data))
        or ("subject" in data and not _plain_text(subject, max_length=200))
    ):
        return _RENDER_SERIALIZER.run_validation(data)
    for name in ("label", "version", "subject"):
        if name in data:
            clean[name] = data[name]
    clean["variables"] = dict(clean["variables"])
    return clean


def _plain_text(value: Any, *, max_length: int) -> bool:
    """A string a CharField keeps unchanged: not blank, no surrounding whitespace, no control characters."""
    return type(value) is str and 0 < len(value) <= max_length and value.isprintable() and value.strip() == value


class MessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = serializers.CharField()


class RenderVariantSerializer(serializers.Serializer):
    key = serializers.CharField()
    version = serializers.IntegerField()


class RenderExperimentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    variant = RenderVariantSerializer()


class RenderPassageSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The passage (chunk) id: cite it.")
    title = serializers.CharField()
    source = serializers.CharField(help_text="The document it comes from, e.g. policies/refunds.md.")
    score = serializers.FloatField()


class RenderRetrievalSerializer(serializers.Serializer):
    knowledge_base = serializers.CharField()
    snapshot_id = serializers.IntegerField()
    query = serializers.CharField()
    passages = RenderPassageSerializer(many=True)


class RenderResponseSerializer(serializers.Serializer):
    template = serializers.CharField()
    version = serializers.IntegerField()
    label = serializers.CharField(allow_null=True, help_text="Null when an experiment chose the version.")
    messages = MessageSerializer(many=True)
    text = serializers.CharField()
    model = ModelSettingsSerializer()
    experiment = RenderExperimentSerializer(allow_null=True)
    render_id = serializers.CharField(allow_null=True, help_text="Pass it back with outcomes of this render.")
    retrieval = RenderRetrievalSerializer(
        allow_null=True, help_text="What the version's knowledge base gave its `knowledge` variable; null without one."
    )


# --- outcomes ----------------------------------------------------------------------------------


class OutcomeEventSerializer(serializers.Serializer):
    render_id = serializers.CharField(max_length=2000, required=False, help_text="From a render response.")
    experiment = serializers.IntegerField(min_value=1, max_value=MAX_BIGINT, required=False)
    variant = serializers.CharField(max_length=VARIANT_KEY_MAX, required=False)
    subject = serializers.CharField(max_length=200, required=False)
    metric = _metric_field()
    value = OutcomeValueField()
    event_id = serializers.CharField(max_length=200, help_text="Unique per project: a retry is not counted twice.")

    def validate(self, attrs):
        if "render_id" not in attrs:
            missing = [name for name in ("experiment", "variant", "subject") if name not in attrs]
            if missing:
                raise serializers.ValidationError(
                    {name: ["Required when no render_id is given."] for name in missing}, code="required"
                )
        return attrs


class OutcomeBatchSerializer(serializers.Serializer):
    events = OutcomeEventSerializer(many=True, min_length=1, max_length=MAX_EVENTS)


class OutcomeResultSerializer(serializers.Serializer):
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Events whose event_id was already stored.")
    errors = BulkErrorSerializer(many=True)


# --- experiments: reads ------------------------------------------------------------------------


class ExperimentFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Experiment.Status.choices, required=False)
    template = serializers.SlugField(max_length=120, required=False, help_text="Template slug.")


class MetricStatsSerializer(serializers.Serializer):
    events = serializers.IntegerField()
    subjects = serializers.IntegerField()
    mean = serializers.FloatField(allow_null=True)
    sum = serializers.FloatField(allow_null=True)


class VariantSerializer(serializers.Serializer):
    key = serializers.CharField()
    version = serializers.IntegerField()
    weight = serializers.IntegerField()
    is_control = serializers.BooleanField()


class VariantStatsSerializer(VariantSerializer):
    subjects = serializers.IntegerField(help_text="Distinct subjects with at least one outcome.")
    metrics = serializers.DictField(child=MetricStatsSerializer(), help_text="Metric name → counts.")


class ExperimentSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    template = serializers.CharField()
    status = serializers.ChoiceField(choices=Experiment.Status.choices)
    primary_metric = serializers.CharField()
    guardrail_metrics = serializers.ListField(child=serializers.CharField())
    minimum_effect = serializers.FloatField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    variants = VariantSerializer(many=True)


class ExperimentDetailSerializer(ExperimentSummarySerializer):
    variants = VariantStatsSerializer(many=True)


# --- experiments: writes -----------------------------------------------------------------------


class VariantInSerializer(serializers.Serializer):
    key = serializers.RegexField(
        rf"^{VARIANT_KEY_PATTERN}$",
        max_length=VARIANT_KEY_MAX,
        help_text="Short stable name: control, b, shorter-intro…",
    )
    version = serializers.IntegerField(min_value=1, max_value=MAX_INT, help_text="A version number of the template.")
    weight = serializers.IntegerField(
        min_value=1, max_value=1_000_000, default=1, help_text="Relative share of subjects: 1 and 1 split 50/50."
    )
    is_control = serializers.BooleanField(default=False, help_text="Exactly one variant is the control.")


class _ExperimentFieldsSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, max_length=MAX_TEXT, default="")
    variants = VariantInSerializer(many=True, max_length=20, help_text="At least two, exactly one control.")
    primary_metric = _metric_field(
        default="task_success_rate", help_text=f"The metric that decides the winner. {_METRIC_HELP}"
    )
    guardrail_metrics = serializers.ListField(
        child=_metric_field(), default=list, max_length=20, help_text="Metrics that must not get worse."
    )
    minimum_effect = FiniteFloatField(
        default=0.05,
        min_value=0,
        max_value=1e9,
        help_text="The smallest difference worth detecting, in the primary metric's units (0.05 = 5 points).",
    )

    def validate_minimum_effect(self, value: float) -> float:
        if value <= 0:
            raise serializers.ValidationError("The minimum effect must be greater than 0.", code="min_value")
        return value


class ExperimentCreateSerializer(_ExperimentFieldsSerializer):
    template = serializers.SlugField(max_length=120, help_text="Slug of the template whose versions compete.")


class ExperimentChangeSerializer(_ExperimentFieldsSerializer):
    """Every field optional; status moves the experiment through draft → running ⇄ paused → finished."""

    status = serializers.ChoiceField(
        choices=[Experiment.Status.RUNNING, Experiment.Status.PAUSED, Experiment.Status.FINISHED],
        required=False,
        help_text="running starts (or resumes), paused pauses, finished ends the experiment for good. "
        "Needs the publisher role (or a write key). The status it already has changes nothing.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False
            field.default = serializers.empty
