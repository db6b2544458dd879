"""Field types and error shapes every API wing shares; each wing's own serializers sit in its `api` package.

Request serializers check types and sizes before anything reaches a service, so that no input can
reach the database in a form it refuses (NUL characters, infinite floats, out-of-range integers).
Response serializers document the JSON the views build; the views build plain dicts (cheaper on
the render path) in exactly these shapes.
"""

from __future__ import annotations

import math

from rest_framework import serializers

# Re-exported: the API wings import the database bounds from here.
from promptlib.core.jsonvalues import MAX_BIGINT as MAX_BIGINT
from promptlib.core.jsonvalues import MAX_INT as MAX_INT
from promptlib.core.jsonvalues import json_problem

MAX_TEXT = 100_000


class StorableJSONField(serializers.JSONField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        problem = json_problem(value)
        if problem:
            raise serializers.ValidationError(f"The value {problem}.", code="invalid")
        return value


class FiniteFloatField(serializers.FloatField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            raise serializers.ValidationError("A finite number is required.", code="invalid")
        return value


# --- responses (documentation of the shapes the views build) ------------------------------------


class ErrorSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The input the problem concerns, e.g. variables.name; empty if none.")
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorResponseSerializer(serializers.Serializer):
    errors = ErrorSerializer(many=True)


class BulkErrorSerializer(ErrorSerializer):
    index = serializers.IntegerField(help_text="Position of the event in the request.")
