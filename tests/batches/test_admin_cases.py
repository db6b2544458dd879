"""A dataset's cases in the admin: one plain box per declared variable and expected field, no JSON."""

from dataclasses import replace

import pytest

from promptlib.batches.datasets import CaseData, cases_add, dataset_create
from promptlib.batches.models import ScorerConfig
from promptlib.prompts.services import template_create, version_create
from tests.batches_support import triage_content

pytestmark = pytest.mark.django_db

VARIABLES = [{"name": "product", "type": "string", "required": True}, {"name": "benefits", "type": "list"},
             {"name": "price", "type": "number"}]  # fmt: skip


@pytest.fixture
def as_bob(client, bob):
    client.force_login(bob)
    return client


@pytest.fixture
def offers(acme):
    dataset = dataset_create(project=acme, name="offers", variables=VARIABLES)
    cases_add(dataset=dataset, cases=[CaseData(input={"product": "Shoes", "benefits": ["light", "cheap"], "price": 40},
                                               expected_fields={"tone": "warm"})])  # fmt: skip
    return dataset


def _post(client, dataset, rows: list[dict], *, initial: int):
    data = {"project": dataset.project_id, "name": dataset.name, "description": "", "template": "",
            "cases-TOTAL_FORMS": len(rows), "cases-INITIAL_FORMS": initial, "cases-MIN_NUM_FORMS": 0,
            "cases-MAX_NUM_FORMS": 1000}  # fmt: skip
    for i, row in enumerate(rows):
        data.update({f"cases-{i}-{k}": v for k, v in row.items()})
    return client.post(f"/admin/promptlib/dataset/{dataset.pk}/change/", data)


def test_editing_a_case_shows_its_values_in_one_box_per_variable_and_no_json(as_bob, offers):
    html = as_bob.get(f"/admin/promptlib/dataset/{offers.pk}/change/").content.decode()
    assert 'name="cases-0-var_benefits"' in html and 'value="light; cheap"' in html
    assert 'value="40"' in html and 'name="cases-0-expected_0"' in html and 'value="warm"' in html
    assert 'name="cases-0-input"' not in html and 'name="cases-0-expected_fields"' not in html
    assert "Expected tone" in html and "separated by" in html  # labelled, and how to write a list


def test_adding_a_case_types_a_list_written_a_semicolon_b(as_bob, offers):
    first = offers.cases.get()
    r = _post(as_bob, offers, [
        {"id": first.pk, "var_product": "Shoes", "var_benefits": "light; cheap", "var_price": "40",
         "expected_0": "warm", "expected_output": "", "tags": ""},
        {"var_product": "Hats", "var_benefits": "warm; soft", "var_price": "12.5", "expected_0": "cosy",
         "expected_output": "Buy hats", "tags": "winter"},
    ], initial=1)  # fmt: skip
    assert r.status_code == 302, r.context["errors"] if r.context else r
    added = offers.cases.get(position=2)
    assert added.input == {"product": "Hats", "benefits": ["warm", "soft"], "price": 12.5}
    assert added.expected_fields == {"tone": "cosy"} and added.tags == ["winter"]
    first.refresh_from_db()
    assert first.input == {"product": "Shoes", "benefits": ["light", "cheap"], "price": 40}


def test_a_bad_number_is_an_error_on_its_box_and_nothing_is_saved(as_bob, offers):
    first = offers.cases.get()
    r = _post(as_bob, offers, [
        {"id": first.pk, "var_product": "Boots", "var_benefits": "dry", "var_price": "cheap",
         "expected_0": "warm", "expected_output": "", "tags": ""},
    ], initial=1)  # fmt: skip
    assert r.status_code == 200
    errors = r.context["inline_admin_formsets"][0].formset.errors[0]
    assert list(errors) == ["var_price"] and "is not a number" in errors["var_price"][0]
    first.refresh_from_db()
    assert first.input["product"] == "Shoes"


def test_a_dataset_declaring_no_variables_keeps_the_json_box(as_bob, tickets):
    case = tickets.cases.order_by("position").first()
    html = as_bob.get(f"/admin/promptlib/dataset/{tickets.pk}/change/").content.decode()
    assert 'name="cases-0-input"' in html and "var_" not in html
    r = _post(as_bob, tickets, [{"id": case.pk, "input": '{"ticket": "changed"}', "expected_output": "",
                                 "expected_fields": "{}", "tags": "a"}], initial=1)  # fmt: skip
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.input == {"ticket": "changed"} and case.tags == ["a"]


def test_the_first_case_of_a_new_dataset_offers_the_boxes_its_checks_and_schema_need(as_bob, acme, triage_experiment):
    ScorerConfig.objects.filter(kind="expected_fields").update(config={"fields": ["priority"]})
    fresh = dataset_create(project=acme, name="fresh", template=triage_experiment.template)
    html = as_bob.get(f"/admin/promptlib/dataset/{fresh.pk}/change/").content.decode()
    assert "Expected priority" in html and "Expected category" in html  # the scorer's field, the schema's
    assert 'name="cases-__prefix__-expected_1"' in html
    r = _post(as_bob, fresh, [{"var_ticket": "Charged twice", "expected_0": "high", "expected_1": "billing",
                               "expected_output": "", "tags": ""}], initial=0)  # fmt: skip
    assert r.status_code == 302
    assert fresh.cases.get().expected_fields == {"priority": "high", "category": "billing"}


def test_an_expected_field_the_schema_types_as_a_whole_number_is_stored_as_one(as_bob, acme, offers):
    template = template_create(project=acme, slug="score", title="Score")
    schema = {"type": "object", "properties": {"stars": {"type": "integer"}}}
    version_create(template=template, content=replace(triage_content("Rate it."), output_schema=schema))
    rated = dataset_create(project=acme, name="rated", template=template)
    r = _post(as_bob, rated, [{"var_ticket": "Great", "expected_0": "five", "expected_output": "", "tags": ""}],
              initial=0)  # fmt: skip
    assert r.status_code == 200 and not rated.cases.exists()
    assert "is not a whole number" in str(r.context["inline_admin_formsets"][0].formset.errors)
    r = _post(as_bob, rated, [{"var_ticket": "Great", "expected_0": "5", "expected_output": "", "tags": ""}], initial=0)
    assert r.status_code == 302
    assert rated.cases.get().expected_fields == {"stars": 5}


def test_the_import_page_names_a_column_for_each_expected_field_the_checks_need(as_bob, acme, triage_experiment):
    fresh = dataset_create(project=acme, name="fresh", template=triage_experiment.template)
    page = as_bob.get(f"/admin/promptlib/dataset/{fresh.pk}/import/").content.decode()
    assert "<code>ticket</code>" in page and "<code>expected.category</code>" in page
    assert "what the answer&#x27;s category must say" in page


def test_cases_of_a_knowledge_base_prompt_take_expected_sources_and_facts_one_per_line(as_bob, acme):
    from tests.retrieval_support import grounded_dataset

    dataset = grounded_dataset(acme, count=1)
    case = dataset.cases.get()
    html = as_bob.get(f"/admin/promptlib/dataset/{dataset.pk}/change/").content.decode()
    assert 'name="cases-0-expected_sources"' in html and "policies.md</textarea>" in html
    assert "Expected facts" in html and "one per line" in html
    r = _post(as_bob, dataset, [
        {"id": case.pk, "input": '{"question": "Refund?"}', "expected_output": "30 days", "expected_fields": "{}",
         "tags": "", "expected_sources": "policies.md\n\nfaq.md ", "expected_facts": "within 30 days\nfull refund"},
    ], initial=1)  # fmt: skip
    assert r.status_code == 302, r.context["errors"] if r.context else r
    case.refresh_from_db()
    assert (case.expected_sources, case.expected_facts) == (
        ["policies.md", "faq.md"],
        ["within 30 days", "full refund"],
    )


def test_cases_without_a_knowledge_base_do_not_show_the_boxes(as_bob, offers):
    html = as_bob.get(f"/admin/promptlib/dataset/{offers.pk}/change/").content.decode()
    assert "expected_sources" not in html
