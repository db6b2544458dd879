"""Which expected fields a dataset's cases are offered: used, checked by a scorer, or in the output schema."""

from dataclasses import replace

import pytest

from promptlib.batches.datasets import CaseData, cases_add, dataset_create
from promptlib.batches.expected_fields import ExpectedField, dataset_expected_fields
from promptlib.batches.models import ScorerConfig
from promptlib.prompts.services import template_create, version_create
from tests.batches_support import make_batch, triage_content

pytestmark = pytest.mark.django_db

PROFILE_SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string"},
        "urgency": {"type": "integer"},
        "refund": {"type": "boolean"},
        "customer": {"type": "object", "properties": {"tier": {"type": "string"}}},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}


def test_a_new_dataset_of_a_template_offers_its_output_schemas_fields(acme, triage_experiment):
    dataset = dataset_create(project=acme, name="fresh", template=triage_experiment.template)
    assert dataset_expected_fields(dataset=dataset) == [ExpectedField("category")]


def test_the_fields_a_scorer_checks_are_offered_before_any_case_has_them(acme, triage_experiment):
    ScorerConfig.objects.filter(kind="expected_fields").update(config={"fields": ["priority", "category"]})
    dataset = dataset_create(project=acme, name="fresh", template=triage_experiment.template)
    assert [f.name for f in dataset_expected_fields(dataset=dataset)] == ["priority", "category"]


def test_an_experiment_that_ran_on_the_dataset_brings_its_checks_even_without_a_template(acme, triage_experiment):
    ScorerConfig.objects.filter(kind="expected_fields").update(config={"fields": ["tone"]})
    dataset = dataset_create(project=acme, name="loose", variables=[{"name": "ticket", "type": "string"}])
    cases_add(dataset=dataset, cases=[CaseData(input={"ticket": "hi"}, expected_fields={"mood": "calm"})])
    make_batch(triage_experiment, dataset)
    assert [f.name for f in dataset_expected_fields(dataset=dataset)] == ["mood", "tone", "category"]


def test_schema_fields_are_typed_dotted_through_objects_and_lists_left_out(acme):
    template = template_create(project=acme, slug="profile", title="Profile")
    version_create(template=template, content=replace(triage_content("Profile it."), output_schema=PROFILE_SCHEMA))
    dataset = dataset_create(project=acme, name="profiles", template=template)
    assert dataset_expected_fields(dataset=dataset) == [
        ExpectedField("category"), ExpectedField("customer.tier"), ExpectedField("refund", "boolean"),
        ExpectedField("urgency", "integer"),
    ]  # fmt: skip


def test_a_dataset_of_an_unrelated_template_is_offered_nothing(acme, triage_experiment):
    other = template_create(project=acme, slug="other", title="Other")
    dataset = dataset_create(project=acme, name="other", template=other)
    assert dataset_expected_fields(dataset=dataset) == []
