"""Fixtures for versions that retrieve from a knowledge base (tests/prompts, tests/experiments, tests/batches)."""

import pytest

from promptlib.knowledge.services import document_upload, knowledge_base_create, knowledge_publish
from promptlib.prompts.content import VersionContent
from promptlib.prompts.services import template_create, version_create

POLICIES = b"""# Refunds

Unopened bags of coffee can be returned within 30 days for a full refund.
Opened bags are refunded as store credit.

# Shipping

Orders over 40 EUR ship free within Germany. Other orders pay 4.90 EUR shipping.
"""

# A passage that looks like Jinja: it must reach the prompt as these very characters.
TRICKY = b"""# Template tricks

Our mug reads {{ 7*7 }} and {% for x in range(3) %}loop{% endfor %} on the side, and {{ knowledge }} too.
"""


def support_content(**retrieval) -> VersionContent:
    block = {"knowledge_base": "coffee-shop", "query": "{{ question }}", "top_k": 2, **retrieval}
    return VersionContent(
        role="You answer customers of Northwind Coffee.",
        context="{% for k in knowledge %}[{{ k.id }}] {{ k.title }} ({{ k.source }}): {{ k.text }}\n{% endfor %}",
        task="Answer: {{ question }}",
        variables=[{"name": "question", "type": "string", "required": True}],
        provider="openai",
        model="gpt-4o-mini",
        retrieval=block,
    )


@pytest.fixture
def coffee_kb(acme):
    """Acme's published knowledge base coffee-shop (snapshot 1): policies.md and tricks.md."""
    kb = knowledge_base_create(project=acme, name="coffee-shop", chunk_size=400, chunk_overlap=40)
    document_upload(knowledge_base=kb, source="policies.md", data=POLICIES, tags=["policy"])
    document_upload(knowledge_base=kb, source="tricks.md", data=TRICKY)
    knowledge_publish(knowledge_base=kb)
    return kb


@pytest.fixture
def support(acme, coffee_kb):
    """Acme's support-reply template: version 1 follows coffee-shop's latest snapshot."""
    template = template_create(project=acme, slug="support-reply", title="Support reply")
    version_create(template=template, content=support_content())
    return template


CATALOGUE = b"""name,price,notes
Morning Blend,12.50 EUR,"Chocolate, hazelnut; medium roast"
Ethiopia Yirgacheffe,16.00 EUR,"Jasmine, lemon; light roast"
"""

# (question, the fact a right answer holds, the document it is in)
QUESTIONS = [
    ("How many days do I have to return an unopened bag?", "30 days", "policies.md"),
    ("Above what order value is shipping free?", "40 EUR", "policies.md"),
    ("What does the Ethiopia Yirgacheffe cost?", "16.00 EUR", "catalogue.csv"),
]


def grounded_answer(body: dict) -> str:
    """A stand-in model that knows nothing itself: it answers from the prompt's context section, citing
    the first passage by its [id]; with no context it cannot answer. Right only when the fact is in the prompt."""
    prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
    context = prompt.split("## Context", 1)[1].split("## Task", 1)[0].strip() if "## Context" in prompt else ""
    if not context:
        return "Sorry, I do not know that."
    cited = context.split("]", 1)[0] + "]" if context.startswith("[") else ""
    return f"From our records {cited}: {' '.join(context.split())}"


def grounded_versions(project):
    """A support-reply template with v1 (no knowledge base) and v2 (v1 + the coffee-shop knowledge base)."""
    from dataclasses import replace

    template = template_create(project=project, slug="support-reply", title="Support reply")
    with_kb = support_content()
    without = replace(with_kb, context="", retrieval=None)
    return (
        template,
        version_create(template=template, content=without)[0],
        version_create(template=template, content=with_kb)[0],
    )


def grounded_dataset(project, *, count: int = 30, name: str = "support-questions"):
    from promptlib.batches.datasets import CaseData, cases_add, dataset_create

    dataset = dataset_create(project=project, name=name)
    cases = [
        CaseData(
            input={"question": QUESTIONS[i % 3][0]},
            expected_output=QUESTIONS[i % 3][1],
            expected_facts=(QUESTIONS[i % 3][1],),
            expected_sources=(QUESTIONS[i % 3][2],),
        )
        for i in range(count)
    ]
    cases_add(dataset=dataset, cases=cases)
    return dataset


@pytest.fixture
def shop_kb(acme):
    """Acme's published coffee-shop knowledge base with policies.md and catalogue.csv."""
    kb = knowledge_base_create(project=acme, name="coffee-shop", chunk_size=400, chunk_overlap=40)
    document_upload(knowledge_base=kb, source="policies.md", data=POLICIES)
    document_upload(knowledge_base=kb, source="catalogue.csv", data=CATALOGUE)
    knowledge_publish(knowledge_base=kb)
    return kb


@pytest.fixture
def grounded_experiment(acme, shop_kb):
    """Without (control, v1) vs with the knowledge base (kb, v2), scored on whether the answer holds the fact."""
    from promptlib.batches.models import ScorerConfig
    from promptlib.experiments.services import VariantSpec, experiment_create

    template, without, with_kb = grounded_versions(acme)
    experiment = experiment_create(
        template=template,
        name="Without vs with the knowledge base",
        variants=[VariantSpec(key="control", version=without, is_control=True), VariantSpec(key="kb", version=with_kb)],
    )
    ScorerConfig.objects.create(experiment=experiment, kind="contains", name="has_fact", order=1)
    return experiment
