"""Reads of provider configurations, always within one project."""

from __future__ import annotations

from django.db.models import QuerySet

from promptlib.providers.models import ProviderConfig


def provider_configs_list(*, project_id: int) -> QuerySet[ProviderConfig]:
    return ProviderConfig.objects.filter(project_id=project_id).order_by("name")


def provider_config_find(*, project_id: int, name: str) -> ProviderConfig | None:
    return ProviderConfig.objects.filter(project_id=project_id, name=name).first()
