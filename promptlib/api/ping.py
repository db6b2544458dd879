"""A bare authenticated endpoint: checks a key works, and is the floor bench/bench_api.py measures render against."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from promptlib.api.base import ProjectAPIView, error_responses
from promptlib.api.permissions import PROJECT_PARAMETER

PING_RESPONSE = inline_serializer("Ping", {"ok": serializers.BooleanField()})


class PingView(ProjectAPIView):
    @extend_schema(
        tags=["ping"],
        summary="Check an API key",
        parameters=[PROJECT_PARAMETER],
        responses={200: PING_RESPONSE, **error_responses()},
    )
    def get(self, request):
        # The permission class has already resolved the key's project, as for every endpoint.
        return Response({"ok": True})

    @extend_schema(
        tags=["ping"],
        summary="Check an API key (parses a JSON body, like render)",
        parameters=[PROJECT_PARAMETER],
        request=None,
        responses={200: PING_RESPONSE, **error_responses(400, 415)},
    )
    def post(self, request):
        request.data  # noqa: B018 - parses the body, so that a POST floor includes JSON parsing
        return self.get(request)
