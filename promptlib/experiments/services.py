"""Experiments (A/B tests): creation with variants, and the draft → running → paused/finished machine.

Assignment hashes the subject into buckets by weight (promptlib.experiments.assignment), so the variants and
their weights are frozen once an experiment has started: changing them would move subjects between
variants mid-test. A new experiment is the way to try other weights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from promptlib.core.caching import template_cache_invalidate
from promptlib.core.errors import DomainError
from promptlib.experiments.models import METRIC_NAME_PATTERN, VARIANT_KEY_PATTERN, Experiment, Variant
from promptlib.prompts.models import Template, Version

Status = Experiment.Status
_METRIC = re.compile(METRIC_NAME_PATTERN)
_KEY = re.compile(VARIANT_KEY_PATTERN)
# Which statuses each transition may start from, and its name in messages (the admin's buttons too).
TRANSITIONS = {
    Status.RUNNING: ((Status.DRAFT, Status.PAUSED), "start", "started"),
    Status.PAUSED: ((Status.RUNNING,), "pause", "paused"),
    Status.FINISHED: ((Status.RUNNING, Status.PAUSED), "finish", "finished"),
}


class ExperimentError(DomainError):
    # The experiment's current state forbids the change: 409, so clients can tell it from bad input.
    CONFLICT_CODES = frozenset({"frozen", "invalid_transition", "already_running"})

    def __init__(self, message: str, **kwargs):
        super().__init__(message, **kwargs)
        if self.code in self.CONFLICT_CODES:
            self.status = 409


@dataclass(frozen=True)
class VariantSpec:
    key: str
    version: Version
    weight: int = 1
    is_control: bool = False


def variants_validate(*, template: Template, variants: list[VariantSpec]) -> None:
    """Refuse a bad configuration, naming every problem (the first one is the error's own message)."""
    problems: list[ExperimentError] = []
    if len(variants) < 2:
        problems.append(
            ExperimentError("An experiment needs at least two variants: a control and a challenger.", field="variants")
        )
    controls = [spec for spec in variants if spec.is_control]
    if variants and len(controls) != 1:
        problems.append(
            ExperimentError(f"Exactly one variant must be the control; {len(controls)} are marked.", field="variants")
        )
    seen: set[str] = set()
    for spec in variants:
        if not _KEY.fullmatch(spec.key or ""):
            problems.append(
                ExperimentError(f"Variant key {spec.key!r} must be 1–40 letters, digits, - or _.", field="variants.key")
            )
        elif spec.key in seen:
            problems.append(ExperimentError(f"Two variants share the key {spec.key!r}.", field="variants.key"))
        seen.add(spec.key)
        if spec.version.template_id != template.pk:
            problems.append(
                ExperimentError(
                    f"Variant {spec.key!r}: version {spec.version.number} is not a version of template "
                    f"'{template.slug}'.",
                    field="variants.version",
                )
            )
        if not isinstance(spec.weight, int) or spec.weight <= 0:
            problems.append(
                ExperimentError(
                    f"Variant {spec.key!r}: the weight must be a positive whole number.", field="variants.weight"
                )
            )
    _raise_all(problems)


def _raise_all(problems: list[ExperimentError]) -> None:
    """One error carrying every problem: its own message and field are the first one's."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        first = problems[0]
        raise ExperimentError(first.message, field=first.field, code=first.code, errors=problems)


def metrics_validate(*, primary_metric: str, guardrail_metrics: list[str]) -> None:
    if not _METRIC.fullmatch(primary_metric or ""):
        raise ExperimentError("The primary metric needs a name of letters, digits, _ . : or -.", field="primary_metric")
    for name in guardrail_metrics:
        if not isinstance(name, str) or not _METRIC.fullmatch(name):
            raise ExperimentError(f"Guardrail metric {name!r} is not a valid metric name.", field="guardrail_metrics")
    if primary_metric in guardrail_metrics:
        raise ExperimentError("The primary metric cannot also be a guardrail.", field="guardrail_metrics")


def experiment_create(
    *,
    template: Template,
    name: str,
    variants: list[VariantSpec],
    primary_metric: str = "task_success_rate",
    guardrail_metrics: list[str] | None = None,
    minimum_effect: float = 0.05,
    description: str = "",
    created_by=None,
) -> Experiment:
    """Create a draft experiment with its variants; nothing is written if anything is wrong."""
    guardrails = list(guardrail_metrics or [])
    problems = [] if (name or "").strip() else [ExperimentError("An experiment needs a name.", field="name")]
    for check in (
        lambda: metrics_validate(primary_metric=primary_metric, guardrail_metrics=guardrails),
        lambda: variants_validate(template=template, variants=variants),
    ):
        try:
            check()
        except ExperimentError as exc:
            problems.extend(exc.errors or [exc])
    _raise_all(problems)
    with transaction.atomic():
        experiment = Experiment.objects.create(
            project_id=template.project_id,
            template=template,
            name=name.strip(),
            description=description,
            primary_metric=primary_metric,
            guardrail_metrics=guardrails,
            minimum_effect=minimum_effect,
            created_by=created_by if created_by is not None and created_by.is_authenticated else None,
        )
        _variants_write(experiment=experiment, variants=variants)
    return experiment


def experiment_variants_set(*, experiment: Experiment, variants: list[VariantSpec]) -> Experiment:
    """Replace the variants of a draft; refused once the experiment has started."""
    with transaction.atomic():
        locked = Experiment.objects.select_for_update().get(pk=experiment.pk)
        if locked.status != Status.DRAFT:
            raise ExperimentError(
                "Variants and weights cannot change after an experiment has started: subjects would move "
                "between variants. Create a new experiment instead.",
                field="variants",
                code="frozen",
            )
        variants_validate(template=locked.template, variants=variants)
        locked.variants.all().delete()
        _variants_write(experiment=locked, variants=variants)
    return locked


def _variants_write(*, experiment: Experiment, variants: list[VariantSpec]) -> None:
    Variant.objects.bulk_create(
        Variant(experiment=experiment, key=s.key, version=s.version, weight=s.weight, is_control=s.is_control)
        for s in variants
    )


def _transition(*, experiment: Experiment, to: str) -> Experiment:
    sources, verb, done = TRANSITIONS[to]
    with transaction.atomic():
        locked = Experiment.objects.select_for_update().select_related("template").get(pk=experiment.pk)
        if locked.status not in sources:
            allowed = " or ".join(str(s) for s in sources)
            raise ExperimentError(
                f"Cannot {verb} experiment '{locked.name}': it is {locked.status}, and only a {allowed} "
                f"experiment can be {done}.",
                field="status",
                code="invalid_transition",
            )
        now = timezone.now()
        locked.status = to
        if to == Status.RUNNING and locked.started_at is None:
            locked.started_at = now
        if to == Status.FINISHED:
            locked.finished_at = now
        try:
            with transaction.atomic():
                locked.save(update_fields=["status", "started_at", "finished_at"])
        except IntegrityError:  # the one-running-per-template constraint, if a check raced
            raise _already_running(locked) from None
        template_cache_invalidate(project_id=locked.project_id, slug=locked.template.slug)
    experiment.status, experiment.started_at, experiment.finished_at = (
        locked.status,
        locked.started_at,
        locked.finished_at,
    )
    return experiment


def _already_running(experiment: Experiment) -> ExperimentError:
    return ExperimentError(
        f"Template '{experiment.template.slug}' already has a running experiment; pause or finish it first.",
        field="status",
        code="already_running",
    )


def experiment_start(*, experiment: Experiment) -> Experiment:
    """Start (or resume) an experiment: renders with a subject get its variants from now on."""
    variants = [
        VariantSpec(key=v.key, version=v.version, weight=v.weight, is_control=v.is_control)
        for v in experiment.variants.select_related("version")
    ]
    variants_validate(template=experiment.template, variants=variants)
    running = Experiment.objects.filter(template_id=experiment.template_id, status=Status.RUNNING).exclude(
        pk=experiment.pk
    )
    if running.exists():
        raise _already_running(experiment)
    return _transition(experiment=experiment, to=Status.RUNNING)


def experiment_pause(*, experiment: Experiment) -> Experiment:
    return _transition(experiment=experiment, to=Status.PAUSED)


def experiment_finish(*, experiment: Experiment) -> Experiment:
    return _transition(experiment=experiment, to=Status.FINISHED)


def experiment_status_set(*, experiment: Experiment, status: str) -> Experiment:
    """Start (or resume), pause or finish by the status asked for: the admin's buttons and the API's PATCH."""
    transitions = {
        Status.RUNNING: experiment_start,
        Status.PAUSED: experiment_pause,
        Status.FINISHED: experiment_finish,
    }
    if status not in transitions:
        raise ExperimentError(
            f"Unknown status {status!r}; use running, paused or finished.", field="status", code="invalid_choice"
        )
    return transitions[status](experiment=experiment)


def experiment_update(
    *,
    experiment: Experiment,
    name: str,
    description: str = "",
    primary_metric: str | None = None,
    guardrail_metrics: list[str] | None = None,
    minimum_effect: float | None = None,
) -> Experiment:
    """Rename or re-describe any experiment; its metrics may change only while it is a draft."""
    if not (name or "").strip():
        raise ExperimentError("An experiment needs a name.", field="name")
    metrics = {
        "primary_metric": experiment.primary_metric if primary_metric is None else primary_metric,
        "guardrail_metrics": experiment.guardrail_metrics if guardrail_metrics is None else list(guardrail_metrics),
        "minimum_effect": experiment.minimum_effect if minimum_effect is None else minimum_effect,
    }
    with transaction.atomic():
        locked = Experiment.objects.select_for_update().select_related("template").get(pk=experiment.pk)
        changed = {k for k, v in metrics.items() if getattr(locked, k) != v}
        if changed and locked.status != Status.DRAFT:
            raise ExperimentError(
                "Metrics cannot change after an experiment has started; create a new experiment instead.",
                field=sorted(changed)[0],
                code="frozen",
            )
        metrics_validate(primary_metric=metrics["primary_metric"], guardrail_metrics=metrics["guardrail_metrics"])
        locked.name, locked.description = name.strip(), description
        for field, value in metrics.items():
            setattr(locked, field, value)
        locked.save(update_fields=["name", "description", *metrics])
        template_cache_invalidate(project_id=locked.project_id, slug=locked.template.slug)
    return locked
