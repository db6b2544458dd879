"""Providers, for scripts: list them, add one. Writes need the write scope (or the editor role)."""

from __future__ import annotations

from django.db import IntegrityError
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from promptlib.api.base import WRITE_GRANTS, ProjectListAPIView, error_responses, validated
from promptlib.api.errors import ApiError, error
from promptlib.api.permissions import PROJECT_PARAMETER
from promptlib.providers.api.serializers import ProviderInSerializer, ProviderOutSerializer
from promptlib.providers.models import ProviderConfig
from promptlib.providers.selectors import provider_configs_list

PROVIDER_FIELDS = (
    "id",
    "name",
    "kind",
    "base_url",
    "models",
    "api_key_env",
    "timeout_seconds",
    "max_concurrency",
    "rpm_limit",
    "max_retries",
)


def _provider_dict(p: ProviderConfig) -> dict:
    return {name: getattr(p, name) for name in PROVIDER_FIELDS}


class ProviderListView(ProjectListAPIView):
    grants = WRITE_GRANTS
    serializer_class = ProviderOutSerializer

    @extend_schema(
        tags=["providers"],
        summary="List providers",
        parameters=[PROJECT_PARAMETER],
        responses={200: ProviderOutSerializer(many=True), **error_responses()},
    )
    def get(self, request):
        return self.page(provider_configs_list(project_id=self.project_id), _provider_dict)

    @extend_schema(
        tags=["providers"],
        summary="Add a provider (the API key stays in an environment variable)",
        parameters=[PROJECT_PARAMETER],
        request=ProviderInSerializer,
        responses={201: ProviderOutSerializer, **error_responses(400, 403, 415)},
    )
    def post(self, request):
        data = validated(ProviderInSerializer, request.data)
        try:
            provider = ProviderConfig.objects.create(project_id=self.project_id, **data)
        except IntegrityError as exc:
            raise ApiError([error("name", "unique", f"A provider named '{data['name']}' exists.")]) from exc
        return Response(_provider_dict(provider), status=201)


urlpatterns_v1 = [
    ("providers", ProviderListView, "provider-list"),
]
