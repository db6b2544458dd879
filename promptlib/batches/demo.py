"""The offline demo batch: a demo provider, the shipped datasets, an A/B test of two triage versions, one run.

Idempotent like the rest of the demo; no network (the provider is the offline "demo" kind).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from django.conf import settings

from promptlib.batches.datasets import cases_import, dataset_create
from promptlib.batches.demo_knowledge import demo_knowledge_setup
from promptlib.batches.models import Batch, Dataset
from promptlib.batches.scorer_configs import scorer_config_create
from promptlib.batches.services import BatchSettings, batch_create, batch_run_inline
from promptlib.core.models import Project
from promptlib.experiments.models import Experiment
from promptlib.experiments.services import VariantSpec, experiment_create
from promptlib.prompts.content import VersionContent
from promptlib.prompts.models import Template
from promptlib.prompts.services import version_create
from promptlib.providers.models import ProviderConfig

DEMO_PROVIDER = "demo"
DEMO_MODEL = "demo"
TRIAGE = "support-ticket-triage"
EXPERIMENT_NAME = "Triage: ask-first rule up front"
CHALLENGER_NOTE = "Demo challenger: states the ask-first rule in the task."


def demo_datasets_import(*, project: Project, folder: Path) -> list[Dataset]:
    datasets = []
    for path in sorted(folder.glob("*.jsonl")):
        dataset = Dataset.objects.current().filter(project=project, name=path.stem).first()
        if dataset is None:
            template = Template.objects.filter(project=project, slug=path.stem).first()  # the prompt it tests
            dataset = dataset_create(
                project=project, name=path.stem, description=f"Demo cases for {path.stem}.", template=template
            )
            cases_import(dataset=dataset, content=path.read_text(encoding="utf-8"), fmt="jsonl")
        datasets.append(dataset)
    return datasets


def _triage_versions(template: Template, user):
    versions = list(template.versions.order_by("number"))
    if len(versions) >= 2:
        return versions[0], versions[1]
    first = versions[0]
    content = VersionContent.from_obj(first)
    challenger = replace(
        content, task=content.task.rstrip() + "\nDecide by the first thing the customer asks us to do."
    )
    second, _ = version_create(template=template, content=challenger, author=user, change_note=CHALLENGER_NOTE)
    return first, second


def demo_batches_setup(*, project: Project, user=None, store_path: Path | None = None) -> Batch | None:
    """Create what the demo batch needs and run it once (inline); returns the latest demo batch."""
    store_path = store_path or Path(settings.BASE_DIR) / "templates_store"
    provider, _ = ProviderConfig.objects.get_or_create(
        project=project, name=DEMO_PROVIDER,
        defaults={"kind": ProviderConfig.Kind.DEMO, "models": [DEMO_MODEL], "max_concurrency": 8},
    )  # fmt: skip
    demo_datasets_import(project=project, folder=store_path / "datasets")
    template = Template.objects.filter(project=project, slug=TRIAGE).first()
    dataset = Dataset.objects.filter(project=project, name=TRIAGE).first()
    if template is None or dataset is None:
        return None
    experiment = Experiment.objects.filter(project=project, name=EXPERIMENT_NAME).first()
    if experiment is None:
        control, challenger = _triage_versions(template, user)
        experiment = experiment_create(
            template=template,
            name=EXPERIMENT_NAME,
            description="Offline demo: two versions of the triage prompt on 60 labelled tickets.",
            variants=[
                VariantSpec(key="control", version=control, is_control=True),
                VariantSpec(key="ask-first", version=challenger),
            ],
            created_by=user,
        )
        scorer_config_create(experiment=experiment, kind="expected_fields", name="category_match", order=1)
        scorer_config_create(experiment=experiment, kind="json_schema", name="follows_schema", order=2)
    batch = Batch.objects.filter(experiment=experiment).order_by("-created_at").first()
    if batch is None:
        what = BatchSettings(experiment=experiment, dataset=dataset, provider=provider, model=DEMO_MODEL)
        batch = batch_create(settings=what, created_by=user)
        batch = batch_run_inline(batch=batch)
    demo_knowledge_setup(project=project, provider=provider, model=DEMO_MODEL, user=user)
    return batch
