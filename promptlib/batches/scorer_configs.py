"""Scorers configured per experiment, validated by the scorer kind's own validate_config."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from promptlib.batches.models import ScorerConfig
from promptlib.experiments.models import Experiment
from promptlib.scorers import ScorerError, scorer_for


def scorer_config_create(
    *, experiment: Experiment, kind: str, name: str, config: dict | None = None, order: int = 0,
    counts_for_success: bool = True,
) -> ScorerConfig:  # fmt: skip
    """Raises ScorerError naming the field ("kind", "name" or the option) when the config is wrong."""
    cleaned = scorer_for(kind).validate_config({**(config or {}), "name": name})
    try:
        with transaction.atomic():
            return ScorerConfig.objects.create(
                experiment=experiment, kind=kind, name=cleaned.pop("name"), config=cleaned, order=order,
                counts_for_success=counts_for_success,
            )  # fmt: skip
    except IntegrityError as exc:
        raise ScorerError(f"This experiment already has a scorer named '{name}'.", field="name") from exc
