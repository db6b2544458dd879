"""Input and output shapes of the template, version and label endpoints."""

from __future__ import annotations

from rest_framework import serializers

from promptlib.api.serializers import MAX_INT, MAX_TEXT, FiniteFloatField, StorableJSONField
from promptlib.prompts.content import RETRIEVAL_MODES, RETRIEVAL_TOP_K_MAX
from promptlib.prompts.models import LABEL_NAME_MAX
from promptlib.prompts.rendering import VARIABLE_TYPES

# --- requests ----------------------------------------------------------------------------------


class TemplateFilterSerializer(serializers.Serializer):
    tag = serializers.RegexField(r"^[\w-]{1,60}$", required=False)
    label = serializers.SlugField(max_length=LABEL_NAME_MAX, required=False)


class ExampleSerializer(serializers.Serializer):
    input = serializers.CharField(allow_blank=True, max_length=MAX_TEXT, trim_whitespace=False)
    output = serializers.CharField(allow_blank=True, max_length=MAX_TEXT, trim_whitespace=False)


class VariableDeclarationSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    type = serializers.ChoiceField(choices=VARIABLE_TYPES, default="string")
    required = serializers.BooleanField(default=False)
    default = StorableJSONField(required=False, allow_null=True, default=None)
    description = serializers.CharField(allow_blank=True, max_length=2000, default="")


class RetrievalBlockSerializer(serializers.Serializer):
    knowledge_base = serializers.SlugField(max_length=80, help_text="A knowledge base of this project, by name.")
    snapshot = serializers.IntegerField(
        min_value=1, max_value=MAX_INT, allow_null=True, default=None, help_text="Pin this snapshot number."
    )
    label = serializers.SlugField(
        max_length=60, default="latest", help_text="Without a pinned snapshot: follow this label (latest)."
    )
    query = serializers.CharField(max_length=MAX_TEXT, help_text="What to search for, a template: {{ question }}.")
    top_k = serializers.IntegerField(min_value=1, max_value=RETRIEVAL_TOP_K_MAX, default=4)
    mode = serializers.ChoiceField(choices=RETRIEVAL_MODES, default="keyword")
    tags = serializers.ListField(child=serializers.CharField(max_length=60), max_length=50, default=list)
    min_score = FiniteFloatField(allow_null=True, default=None)


def _section() -> serializers.CharField:
    return serializers.CharField(allow_blank=True, max_length=MAX_TEXT, default="", trim_whitespace=False)


class VersionCreateSerializer(serializers.Serializer):
    role = _section()
    task = _section()
    context = _section()
    format = _section()
    constraints = _section()
    examples = ExampleSerializer(many=True, default=list, max_length=200)
    variables = VariableDeclarationSerializer(many=True, default=list, max_length=200)
    provider = serializers.CharField(allow_blank=True, max_length=80, default="")
    model = serializers.CharField(allow_blank=True, max_length=200, default="")
    temperature = FiniteFloatField(allow_null=True, default=None, min_value=0, max_value=10)
    max_tokens = serializers.IntegerField(allow_null=True, default=None, min_value=1, max_value=MAX_INT)
    output_schema = StorableJSONField(allow_null=True, default=None)
    retrieval = RetrievalBlockSerializer(
        allow_null=True, default=None, help_text="Search a knowledge base; its passages fill the `knowledge` variable."
    )
    change_note = serializers.CharField(allow_blank=True, max_length=2000, default="")


class LabelMoveSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, max_value=MAX_INT, help_text="The version number to point at.")
    note = serializers.CharField(allow_blank=True, max_length=2000, default="")


# --- responses (documentation of the shapes the views build) ------------------------------------


class ModelSettingsSerializer(serializers.Serializer):
    provider = serializers.CharField()
    model = serializers.CharField()
    temperature = serializers.FloatField(allow_null=True)
    max_tokens = serializers.IntegerField(allow_null=True)
    output_schema = serializers.JSONField(allow_null=True)


class VersionSummarySerializer(serializers.Serializer):
    number = serializers.IntegerField()
    content_hash = serializers.CharField()
    change_note = serializers.CharField()
    author = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class VersionSerializer(VersionSummarySerializer):
    role = serializers.CharField()
    task = serializers.CharField()
    context = serializers.CharField()
    format = serializers.CharField()
    constraints = serializers.CharField()
    examples = ExampleSerializer(many=True)
    variables = VariableDeclarationSerializer(many=True)
    model_settings = ModelSettingsSerializer()
    retrieval = RetrievalBlockSerializer(allow_null=True)


class VersionCreatedSerializer(VersionSerializer):
    created = serializers.BooleanField(help_text="False when the content equals the latest version's.")


class TemplateSummarySerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    labels = serializers.DictField(child=serializers.IntegerField(), help_text="Label name → version number.")
    latest_version = serializers.IntegerField(allow_null=True)
    updated_at = serializers.DateTimeField()


class TemplateDetailSerializer(TemplateSummarySerializer):
    created_at = serializers.DateTimeField()
    latest = VersionSerializer(allow_null=True)


class LabelSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.IntegerField()
    updated_at = serializers.DateTimeField()
    updated_by = serializers.CharField(allow_null=True)
