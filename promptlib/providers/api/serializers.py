"""Input and output shapes of the provider endpoints. The API key goes in, never out: only whether it
is set and its hint ("…abcd") come back."""

from __future__ import annotations

from rest_framework import serializers

from promptlib.api.serializers import MAX_INT
from promptlib.providers.models import ProviderConfig

_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
_STRUCTURED_OUTPUT_HELP = (
    "How an OpenAI-compatible server is asked for JSON when a version has an output schema: json_schema "
    "(OpenAI, vLLM, llama-server, recent Ollama), json_object with the schema (llama-cpp-python) or none "
    "(the prompt alone asks). Anthropic ignores it."
)


class ProviderInSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=80)
    kind = serializers.ChoiceField(choices=ProviderConfig.Kind.values)
    base_url = serializers.URLField(max_length=200, required=False, allow_blank=True, default="")
    models = serializers.ListField(child=serializers.CharField(max_length=200), required=False, default=list)
    api_key = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, write_only=True, trim_whitespace=True,
        help_text="The provider's API key: stored encrypted, never returned (needs the providers scope).",
    )  # fmt: skip
    api_key_env = serializers.RegexField(_ENV_NAME, max_length=100, required=False, default="", allow_blank=True)
    timeout_seconds = serializers.FloatField(min_value=0.1, max_value=3600, required=False, default=60)
    max_concurrency = serializers.IntegerField(min_value=1, max_value=1000, required=False, default=4)
    rpm_limit = serializers.IntegerField(min_value=0, max_value=MAX_INT, required=False, default=0)
    max_retries = serializers.IntegerField(min_value=0, max_value=20, required=False, default=4)
    structured_output = serializers.ChoiceField(
        choices=ProviderConfig.StructuredOutput.values,
        required=False,
        default=ProviderConfig.StructuredOutput.JSON_SCHEMA,
        help_text=_STRUCTURED_OUTPUT_HELP,
    )


class ProviderChangeSerializer(serializers.Serializer):
    """Only the fields sent change; `api_key_clear: true` forgets the stored key."""

    base_url = serializers.URLField(max_length=200, required=False, allow_blank=True)
    models = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    api_key = serializers.CharField(max_length=2000, required=False, allow_blank=True, write_only=True)
    api_key_clear = serializers.BooleanField(required=False, default=False)
    api_key_env = serializers.RegexField(_ENV_NAME, max_length=100, required=False, allow_blank=True)
    timeout_seconds = serializers.FloatField(min_value=0.1, max_value=3600, required=False)
    max_concurrency = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    rpm_limit = serializers.IntegerField(min_value=0, max_value=MAX_INT, required=False)
    max_retries = serializers.IntegerField(min_value=0, max_value=20, required=False)
    structured_output = serializers.ChoiceField(
        choices=ProviderConfig.StructuredOutput.values, required=False, help_text=_STRUCTURED_OUTPUT_HELP
    )


class ProviderOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    base_url = serializers.CharField()
    models = serializers.ListField(child=serializers.CharField())
    api_key_set = serializers.BooleanField()
    api_key_hint = serializers.CharField(help_text='The key\'s last four characters, e.g. "…abcd" ("" if none).')
    api_key_env = serializers.CharField()
    timeout_seconds = serializers.FloatField()
    max_concurrency = serializers.IntegerField()
    rpm_limit = serializers.IntegerField()
    max_retries = serializers.IntegerField()
    structured_output = serializers.CharField(help_text=_STRUCTURED_OUTPUT_HELP)
