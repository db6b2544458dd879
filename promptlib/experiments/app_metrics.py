"""Application metrics: what an application reports as outcomes, registered with a direction and a unit.

A metric's direction is a fact about the metric, not about one experiment: complaints are bad news
in every experiment. So it is declared once per project, here, and every reader (verdict, colours,
charts, promotion) gets it from promptlib.experiments.selectors.application_metrics_registered.
"""

from __future__ import annotations

import math
import re

from django.db import IntegrityError, transaction

from promptlib.core.errors import DomainError
from promptlib.core.models import Project
from promptlib.experiments.metrics import METRICS
from promptlib.experiments.models import METRIC_NAME_PATTERN, ApplicationMetric

_NAME = re.compile(METRIC_NAME_PATTERN)


class ApplicationMetricError(DomainError):
    pass


def application_metric_validate(
    *, name: str, label: str, direction: str, kind: str, unit: str, minimum_effect: float | None
) -> None:
    if not _NAME.fullmatch(name or ""):
        raise ApplicationMetricError("A metric name is letters, digits, _ . : or - (up to 80).", field="name")
    if name in METRICS:
        raise ApplicationMetricError(
            f"“{name}” is a built-in metric of the test batches; it already has its direction.", field="name"
        )
    if not (label or "").strip():
        raise ApplicationMetricError("Give the metric a name people read, e.g. Complaints.", field="label")
    if direction not in ApplicationMetric.Direction.values:
        raise ApplicationMetricError("Choose whether higher or lower is better.", field="direction")
    if kind not in ApplicationMetric.Kind.values:
        raise ApplicationMetricError("Choose yes/no or a number.", field="kind")
    if minimum_effect is not None and not (math.isfinite(minimum_effect) and minimum_effect > 0):
        raise ApplicationMetricError("The smallest change worth detecting must be above 0.", field="minimum_effect")
    if kind == ApplicationMetric.Kind.RATE and minimum_effect is not None and minimum_effect >= 1:
        raise ApplicationMetricError(
            "For a yes/no metric the smallest change is a share below 1 (0.02 = 2 points).", field="minimum_effect"
        )


def application_metric_register(
    *,
    project: Project,
    name: str,
    label: str,
    direction: str,
    kind: str = ApplicationMetric.Kind.RATE,
    unit: str = "",
    minimum_effect: float | None = None,
) -> ApplicationMetric:
    """Register (or, for a name already registered in the project, update) one application metric."""
    application_metric_validate(
        name=name, label=label, direction=direction, kind=kind, unit=unit, minimum_effect=minimum_effect
    )
    fields = {
        "label": label.strip(),
        "direction": direction,
        "kind": kind,
        "unit": unit.strip(),
        "minimum_effect": minimum_effect,
    }
    try:
        with transaction.atomic():
            metric, _ = ApplicationMetric.objects.update_or_create(project=project, name=name, defaults=fields)
    except IntegrityError as exc:  # a concurrent registration of the same name
        raise ApplicationMetricError(
            f"“{name}” was registered at the same time; try again.", field="name", status=409
        ) from exc
    return metric
