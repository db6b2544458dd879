"""Fixtures and helpers shared by the dataset, batch, task and end-to-end tests."""

from __future__ import annotations

import json

import pytest

from promptlib.batches.datasets import CaseData, cases_add, dataset_create
from promptlib.batches.models import ScorerConfig
from promptlib.batches.services import BatchSettings, batch_create
from promptlib.experiments.services import VariantSpec, experiment_create
from promptlib.prompts.content import VersionContent
from promptlib.prompts.services import template_create, version_create
from promptlib.providers.models import ProviderConfig

CATEGORIES = ["billing", "technical", "account", "shipping", "other"]
SCHEMA = {
    "type": "object",
    "properties": {"category": {"type": "string", "enum": CATEGORIES}},
    "required": ["category"],
}


def triage_content(task: str) -> VersionContent:
    return VersionContent(
        role="You route support tickets.",
        task=task,
        context="Ticket: {{ ticket }}",
        format='Answer with JSON: {"category": "..."}. Categories: billing, technical, account, shipping, other.',
        variables=[{"name": "ticket", "type": "string", "required": True}],
        provider="demo",
        model="demo-model",
        temperature=0.0,
        max_tokens=20,
        output_schema=SCHEMA,
    )


@pytest.fixture
def demo_provider(acme):
    return ProviderConfig.objects.create(project=acme, name="demo", kind="demo", models=["demo-model"])


@pytest.fixture
def triage_experiment(acme, demo_provider):
    template = template_create(project=acme, slug="triage", title="Triage")
    v1, _ = version_create(template=template, content=triage_content("Classify the ticket."))
    v2, _ = version_create(template=template, content=triage_content("Classify the ticket into one category."))
    experiment = experiment_create(
        template=template,
        name="Triage wording",
        variants=[VariantSpec(key="control", version=v1, is_control=True), VariantSpec(key="b", version=v2)],
    )
    ScorerConfig.objects.create(experiment=experiment, kind="expected_fields", name="category_match", order=1)
    ScorerConfig.objects.create(experiment=experiment, kind="json_schema", name="schema", order=2)
    return experiment


def tickets_dataset(project, *, count: int = 6, name: str = "tickets"):
    dataset = dataset_create(project=project, name=name)
    cases = [
        CaseData(
            input={"ticket": f"Ticket number {i} about {CATEGORIES[i % 5]}"},
            expected_fields={"category": CATEGORIES[i % 5]},
            tags=("even",) if i % 2 == 0 else ("odd",),
        )
        for i in range(count)
    ]
    cases_add(dataset=dataset, cases=cases)
    return dataset


@pytest.fixture
def tickets(acme):
    return tickets_dataset(acme)


def standin_answer(body: dict) -> str:
    """Answers the category named in the ticket, as JSON, so scorers can pass."""
    text = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
    ticket = text.split("Ticket:")[-1]
    category = next((c for c in CATEGORIES if c in ticket), "other")
    return json.dumps({"category": category})


def standin_provider(project, server, **fields) -> ProviderConfig:
    values = {"max_concurrency": 4, "max_retries": 3, "timeout_seconds": 5, "models": ["standin"]}
    config = server.provider_config(project=project, **{**values, **fields})
    config.save()
    return config


def make_batch(experiment, dataset, **kwargs):
    return batch_create(settings=BatchSettings(experiment=experiment, dataset=dataset, **kwargs))
