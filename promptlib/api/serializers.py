"""Field types and error shapes every API wing shares; each wing's own serializers sit in its `api` package.

Request serializers check types and sizes before anything reaches a service, so that no input can
reach the database in a form it refuses (NUL characters, infinite floats, out-of-range integers).
Response serializers document the JSON the views build; the views build plain dicts (cheaper on
the render path) in exactly these shapes.
"""

from __future__ import annotations

import math
from typing import Any

from rest_framework import serializers

MAX_INT = 2**31 - 1
MAX_BIGINT = 2**63 - 1
MAX_TEXT = 100_000
_MAX_DEPTH = 32


def json_problem(value: Any, depth: int = 0) -> str:
    """Why a JSON value cannot be stored, or "" if it can."""
    if depth > _MAX_DEPTH:
        return f"is nested more than {_MAX_DEPTH} levels deep"
    if isinstance(value, str):
        return "contains a NUL character" if "\x00" in value else ""
    if isinstance(value, float):
        return "contains a number that is not finite" if not math.isfinite(value) else ""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_BIGINT:
        return "contains an integer too large to store"
    if isinstance(value, dict):
        for key, item in value.items():
            problem = json_problem(key, depth + 1) or json_problem(item, depth + 1)
            if problem:
                return problem
    if isinstance(value, list):
        for item in value:
            problem = json_problem(item, depth + 1)
            if problem:
                return problem
    return ""


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
