"""Input and output shapes of the provider endpoints."""

from __future__ import annotations

from rest_framework import serializers

from promptlib.api.serializers import MAX_INT
from promptlib.providers.models import ProviderConfig


class ProviderInSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=80)
    kind = serializers.ChoiceField(choices=ProviderConfig.Kind.values)
    base_url = serializers.URLField(max_length=200, required=False, allow_blank=True, default="")
    models = serializers.ListField(child=serializers.CharField(max_length=200), required=False, default=list)
    api_key_env = serializers.RegexField(
        r"^[A-Z_][A-Z0-9_]*$", max_length=100, required=False, default="", allow_blank=True
    )
    timeout_seconds = serializers.FloatField(min_value=0.1, max_value=3600, required=False, default=60)
    max_concurrency = serializers.IntegerField(min_value=1, max_value=1000, required=False, default=4)
    rpm_limit = serializers.IntegerField(min_value=0, max_value=MAX_INT, required=False, default=0)
    max_retries = serializers.IntegerField(min_value=0, max_value=20, required=False, default=4)


class ProviderOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    base_url = serializers.CharField()
    models = serializers.ListField(child=serializers.CharField())
    api_key_env = serializers.CharField()
    timeout_seconds = serializers.FloatField()
    max_concurrency = serializers.IntegerField()
    rpm_limit = serializers.IntegerField()
    max_retries = serializers.IntegerField()
