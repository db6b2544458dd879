"""Crafted experiment data for the analysis, promotion, dashboard and export tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from django.utils import timezone

from promptlib.batches.models import Batch, BatchItem, Dataset, DatasetCase
from promptlib.experiments.models import Experiment, OutcomeEvent
from promptlib.experiments.outcomes import outcome_sums_rebuild
from promptlib.experiments.services import VariantSpec, experiment_create, experiment_start
from promptlib.prompts.services import label_move, version_create


def make_experiment(template, content, *, challengers=("b",), primary="task_success_rate", guardrails=()):
    """A running experiment: control = version 1, each challenger a new version of the template."""
    control = template.versions.get(number=1)
    specs = [VariantSpec(key="control", version=control, is_control=True)]
    for i, key in enumerate(challengers, start=2):
        version, _ = version_create(template=template, content=replace(content, constraints=f"Variant {key} ({i})."))
        specs.append(VariantSpec(key=key, version=version))
    experiment = experiment_create(
        template=template,
        name="Welcome wording",
        variants=specs,
        primary_metric=primary,
        guardrail_metrics=list(guardrails),
    )
    label_move(template=template, name="production", version=control, via="test")
    return experiment_start(experiment=experiment)


def make_dataset(project, *, cases: int, name: str = "customers") -> Dataset:
    dataset = Dataset.objects.create(project=project, name=name)
    DatasetCase.objects.bulk_create(
        DatasetCase(
            dataset=dataset, position=i + 1, input={"name": f"Customer {i + 1}"}, tags=["even" if i % 2 else "odd"]
        )
        for i in range(cases)
    )
    return dataset


Rule = Callable[[int], bool]


def add_batch(
    experiment: Experiment,
    dataset: Dataset,
    *,
    passes: dict[str, Rule],
    latency: dict[str, int] | None = None,
    repeats: int = 1,
    status: str = Batch.Status.FINISHED,
    item_status: str = BatchItem.Status.DONE,
    created_at=None,
) -> Batch:
    """A batch where variant `key` passes call k when passes[key](k), k = case index × repeats + repeat."""
    variants = {v.key: v for v in experiment.variants.all()}
    cases = list(dataset.cases.order_by("position"))
    batch = Batch.objects.create(
        project_id=experiment.project_id, experiment=experiment, dataset=dataset, repeats=repeats, status=status,
        total=len(cases) * repeats * len(passes),
    )  # fmt: skip
    if created_at is not None:
        Batch.objects.filter(pk=batch.pk).update(created_at=created_at)
    latency = latency or {}
    done = item_status == BatchItem.Status.DONE
    BatchItem.objects.bulk_create(
        BatchItem(
            batch=batch,
            variant=variants[key],
            case=case,
            repeat=r,
            status=item_status,
            success=rule(i * repeats + r) if done else None,
            schema_passed=True if done else None,
            attempts=1,
            latency_ms=latency.get(key, 800) + (i % 7) * 10 if done else None,
            cost_usd=0.001,
            input_tokens=120,
            output_tokens=60,
            output=f"Hello {case.input['name']}, from {key}" if done else "",
            scores=[{"metric": "category_match", "passed": rule(i * repeats + r), "value": None, "detail": "ok"}]
            if done
            else [],
            finished_at=timezone.now() if done else None,
        )  # fmt: skip
        for i, case in enumerate(cases)
        for r in range(repeats)
        for key, rule in passes.items()
    )
    return batch


def add_outcomes(experiment: Experiment, *, metric: str, counts: dict[str, tuple[int, int]], days: int = 1) -> None:
    """counts[key] = (events, successes) of a boolean metric, spread over `days` days."""
    variants = {v.key: v for v in experiment.variants.all()}
    now = timezone.now()
    events = []
    for key, (n, successes) in counts.items():
        for i in range(n):
            events.append(
                OutcomeEvent(
                    project_id=experiment.project_id,
                    experiment=experiment,
                    variant=variants[key],
                    subject=f"{key}-{i}",
                    metric=metric,
                    value=1.0 if i < successes else 0.0,
                    is_boolean=True,
                    event_id=f"{experiment.pk}-{key}-{metric}-{i}",
                    created_at=now - timedelta(days=i % days),
                )  # fmt: skip
            )
    OutcomeEvent.objects.bulk_create(events)
    outcome_sums_rebuild(experiment_id=experiment.pk)  # what outcomes_record keeps up to date


def winner_batch(experiment, dataset, **kwargs) -> Batch:
    """b passes 55 of 60 cases, control 30: a clear winner."""
    return add_batch(experiment, dataset, passes={"control": lambda i: i < 30, "b": lambda i: i < 55}, **kwargs)
