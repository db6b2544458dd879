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
