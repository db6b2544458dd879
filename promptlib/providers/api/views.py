"""Providers, for scripts: list them (read), add and change them (publishers: the providers scope).

The API key is accepted on create and change, stored encrypted, and never returned: a provider shows
`api_key_set` and `api_key_hint` ("…abcd") only.
"""

from __future__ import annotations

from django.db import IntegrityError
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from promptlib.api.base import ProjectAPIView, ProjectListAPIView, error_responses, validated
from promptlib.api.errors import ApiError, error
from promptlib.api.permissions import MANAGE_PROVIDERS, PROJECT_PARAMETER
from promptlib.core.models import Project
from promptlib.providers.api.serializers import ProviderChangeSerializer, ProviderInSerializer, ProviderOutSerializer
from promptlib.providers.models import ProviderConfig
from promptlib.providers.selectors import provider_config_find, provider_configs_list
from promptlib.providers.services import CONFIG_FIELDS, provider_config_create, provider_config_update

PROVIDER_GRANTS = {"POST": MANAGE_PROVIDERS, "PATCH": MANAGE_PROVIDERS}
PROVIDER_FIELDS = ("id", "name", *CONFIG_FIELDS)


def _provider_dict(p: ProviderConfig) -> dict:
    # Never the key, nor its token: whether one is stored, and its hint.
    return {
        **{name: getattr(p, name) for name in PROVIDER_FIELDS},
        "api_key_set": p.api_key_is_set,
        "api_key_hint": p.api_key_hint,
    }


class ProviderListView(ProjectListAPIView):
    grants = PROVIDER_GRANTS
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
        summary="Add a provider (providers scope; the API key is stored encrypted, never returned)",
        parameters=[PROJECT_PARAMETER],
        request=ProviderInSerializer,
        responses={201: ProviderOutSerializer, **error_responses(400, 403, 415)},
    )
    def post(self, request):
        data = dict(validated(ProviderInSerializer, request.data))
        taken = error("name", "unique", f"A provider named '{data['name']}' exists.")
        if provider_config_find(project_id=self.project_id, name=data["name"]) is not None:
            raise ApiError([taken])
        project = Project.objects.get(pk=self.project_id)
        try:
            provider = provider_config_create(project=project, api_key=data.pop("api_key", None) or None, **data)
        except IntegrityError as exc:  # a concurrent create of the same name
            raise ApiError([taken]) from exc
        return Response(_provider_dict(provider), status=201)


class ProviderDetailView(ProjectAPIView):
    grants = PROVIDER_GRANTS

    def _provider(self, name: str) -> ProviderConfig:
        provider = provider_config_find(project_id=self.project_id, name=name[:80]) if "\x00" not in name else None
        if provider is None:
            raise NotFound("No such provider.")
        return provider

    @extend_schema(
        tags=["providers"],
        summary="A provider",
        parameters=[PROJECT_PARAMETER],
        responses={200: ProviderOutSerializer, **error_responses()},
    )
    def get(self, request, name: str):
        return Response(_provider_dict(self._provider(name)))

    @extend_schema(
        tags=["providers"],
        summary="Change a provider, set or clear its API key (providers scope)",
        parameters=[PROJECT_PARAMETER],
        request=ProviderChangeSerializer,
        responses={200: ProviderOutSerializer, **error_responses(400, 403, 415)},
    )
    def patch(self, request, name: str):
        provider = self._provider(name)
        data = dict(validated(ProviderChangeSerializer, request.data))
        api_key, api_key_clear = data.pop("api_key", None) or None, data.pop("api_key_clear", False)
        provider = provider_config_update(config=provider, api_key=api_key, api_key_clear=api_key_clear, **data)
        return Response(_provider_dict(provider))


urlpatterns_v1 = [
    ("providers", ProviderListView, "provider-list"),
    ("providers/<str:name>", ProviderDetailView, "provider-detail"),
]
