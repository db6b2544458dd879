"""Scripting batches through the REST API: providers, datasets, scorers, batches."""

import csv
import io
import json

import pytest

from promptlib.batches.datasets import CaseData, cases_add, dataset_create
from promptlib.batches.models import Batch, BatchItem, Dataset, DatasetCase
from promptlib.batches.services import batch_run_inline
from tests.concurrency_support import at_once

pytestmark = pytest.mark.django_db
API = "/api/v1"


@pytest.fixture
def writer(api_client, acme):
    """A script's key: write, and providers (adding a provider is a publisher's act: issue 10)."""
    from promptlib.core.apikeys import api_key_create

    return api_client(api_key_create(project=acme, scopes="read,write,providers", name="script")[1])


def test_a_script_creates_a_provider_dataset_scorer_and_batch(writer, triage_experiment, acme):
    r = writer.post(f"{API}/providers", {"name": "local", "kind": "demo", "models": ["demo-model"]}, format="json")
    assert r.status_code == 201, r.json()
    r = writer.post(f"{API}/datasets", {"name": "mini"}, format="json")
    assert r.status_code == 201
    jsonl = '{"input": {"ticket": "refund"}, "expected_fields": {"category": "billing"}}\n'
    r = writer.post(f"{API}/datasets/mini/cases", {"format": "jsonl", "content": jsonl}, format="json")
    assert r.status_code == 201 and r.json()["cases"] == 1
    r = writer.post(f"{API}/experiments/{triage_experiment.pk}/scorers", {"kind": "json_valid", "name": "json_ok"},
                    format="json")  # fmt: skip
    assert r.status_code == 201
    r = writer.post(f"{API}/batches", {"experiment": triage_experiment.pk, "dataset": "mini", "provider": "local",
                                       "repeats": 2}, format="json")  # fmt: skip
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["status"] == "running" and body["total"] == 4


def test_a_bad_import_names_the_line(writer, acme):
    writer.post(f"{API}/datasets", {"name": "mini"}, format="json")
    r = writer.post(f"{API}/datasets/mini/cases", {"format": "jsonl", "content": '{"input": 1}\n'}, format="json")
    assert r.status_code == 400
    assert "Line 1" in r.json()["errors"][0]["message"]


def test_a_bad_scorer_option_names_the_option(writer, triage_experiment):
    r = writer.post(f"{API}/experiments/{triage_experiment.pk}/scorers",
                    {"kind": "regex", "name": "r", "config": {"patern": "x"}}, format="json")  # fmt: skip
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "config.patern"


def test_bad_repeats_name_the_field(writer, triage_experiment, tickets):
    r = writer.post(f"{API}/batches", {"experiment": triage_experiment.pk, "dataset": "tickets", "repeats": 0},
                    format="json")  # fmt: skip
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "repeats"


def test_a_read_key_cannot_start_a_batch(api_client, acme_read_key, triage_experiment, tickets):
    r = api_client(acme_read_key).post(f"{API}/batches", {"experiment": triage_experiment.pk, "dataset": "tickets"},
                                       format="json")  # fmt: skip
    assert r.status_code == 403


def test_another_projects_key_cannot_see_the_batch(api_client, globex_key, writer, triage_experiment, tickets):
    pk = writer.post(f"{API}/batches", {"experiment": triage_experiment.pk, "dataset": "tickets"},
                     format="json").json()["id"]  # fmt: skip
    assert api_client(globex_key).get(f"{API}/batches/{pk}").status_code == 404


def test_progress_and_metrics_of_a_finished_batch(writer, triage_experiment, tickets):
    pk = writer.post(f"{API}/batches", {"experiment": triage_experiment.pk, "dataset": "tickets"},
                     format="json").json()["id"]  # fmt: skip
    batch_run_inline(batch=Batch.objects.get(pk=pk))
    body = writer.get(f"{API}/batches/{pk}").json()
    assert body["done"] == 12 and body["percent"] == 100.0
    assert {v["variant"] for v in body["variants"]} == {"control", "b"}
    assert writer.get(f"{API}/batches/{pk}/progress").json()["done"] == 12


def test_a_batch_can_be_cancelled_with_patch(writer, triage_experiment, tickets):
    pk = writer.post(f"{API}/batches", {"experiment": triage_experiment.pk, "dataset": "tickets"},
                     format="json").json()["id"]  # fmt: skip
    r = writer.patch(f"{API}/batches/{pk}", {"status": "cancelled"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert writer.patch(f"{API}/batches/{pk}", {"status": "finished"}, format="json").status_code == 400


def test_failed_calls_are_rerun_through_the_api(writer, triage_experiment, tickets):
    pk = writer.post(f"{API}/batches", {"experiment": triage_experiment.pk, "dataset": "tickets"},
                     format="json").json()["id"]  # fmt: skip
    batch = batch_run_inline(batch=Batch.objects.get(pk=pk))
    BatchItem.objects.filter(pk=batch.items.first().pk).update(status="failed")
    assert writer.post(f"{API}/batches/{pk}/reruns").status_code == 201
    assert Batch.objects.get(pk=pk).status == "running"


def test_cases_export_as_csv(writer, tickets):
    r = writer.get(f"{API}/datasets/tickets/cases?as=csv")
    assert r.status_code == 200
    assert r.content.decode().splitlines()[0] == "input,expected_output,expected_fields,tags"


# --- attacks: each of these was a 500 -------------------------------------------------------------


@pytest.mark.parametrize("ref", ["²", "١٢", "１２", "99999999999999999999999", "a%00b", "%00"])
def test_a_dataset_ref_that_is_no_id_nor_name_is_refused_not_a_500(writer, acme, ref):
    # '١٢' (Arabic-Indic digits) once read as id 12; '²' made int() raise.
    for i in range(12):
        dataset_create(project=acme, name=f"d{i}")
    r = writer.get(f"{API}/datasets/{ref}")
    assert r.status_code in (400, 404) and r.json()["errors"]


def test_a_batch_on_a_non_ascii_digit_dataset_ref_names_the_field(writer, triage_experiment, tickets):
    r = writer.post(f"{API}/batches", {"experiment": triage_experiment.pk, "dataset": "١"}, format="json")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "dataset"


def test_an_experiment_id_past_bigint_names_the_field(writer, tickets):
    r = writer.post(f"{API}/batches", {"experiment": 2**63, "dataset": "tickets"}, format="json")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "experiment"


def test_an_id_past_bigint_in_the_url_is_a_404(writer):
    assert writer.get(f"{API}/batches/{2**64}").status_code == 404
    assert writer.get(f"{API}/experiments/{2**64}/scorers").status_code == 404


def test_a_scorer_order_past_the_integer_range_names_the_field(writer, triage_experiment):
    r = writer.post(f"{API}/experiments/{triage_experiment.pk}/scorers",
                    {"kind": "json_valid", "name": "j", "order": 1099511627776}, format="json")  # fmt: skip
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "order"


def test_a_nul_in_a_scorer_option_names_the_field(writer, triage_experiment):
    r = writer.post(f"{API}/experiments/{triage_experiment.pk}/scorers",
                    {"kind": "contains", "name": "c", "config": {"strings": ["a\x00"]}}, format="json")  # fmt: skip
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "config"


def test_a_regex_re2_cannot_compile_is_refused_when_saved_naming_the_pattern(writer, triage_experiment):
    r = writer.post(f"{API}/experiments/{triage_experiment.pk}/scorers",
                    {"kind": "regex", "name": "r", "config": {"pattern": r"(\w)\1"}}, format="json")  # fmt: skip
    assert r.status_code == 400
    error = r.json()["errors"][0]
    assert error["field"] == "config.pattern" and "backreferences" in error["message"]


def test_an_overlong_model_names_the_field(writer, triage_experiment, tickets):
    r = writer.post(f"{API}/batches", {"experiment": triage_experiment.pk, "dataset": "tickets", "model": "m" * 201},
                    format="json")  # fmt: skip
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "model"


@pytest.mark.parametrize(
    ("fmt", "content"),
    [
        ("jsonl", '{"input": {"t": "a\\u0000"}}\n'),
        ("jsonl", '{"input": {"t": NaN}}\n'),
        ("jsonl", '{"input": {"t": Infinity}}\n'),
        ("jsonl", '{"input": {"t": 1e999}}\n'),
        ("jsonl", '{"input": {"t": "\\udc00"}}\n'),
        ("jsonl", '{"input": {"t": ' + "[" * 5000 + "]" * 5000 + "}}\n"),
        ("csv", "ticket\n" + "x" * 131_073 + "\n"),
    ],
)
def test_an_import_the_database_cannot_store_is_a_400_naming_the_line(writer, acme, fmt, content):
    writer.post(f"{API}/datasets", {"name": "mini"}, format="json")
    # The body carries the content as a JSON string: its escapes reach the importer as characters.
    body = json.dumps({"format": fmt, "content": content})
    r = writer.post(f"{API}/datasets/mini/cases", body, content_type="application/json")
    assert r.status_code == 400, r.content
    assert "Line " in r.json()["errors"][0]["message"]
    assert not DatasetCase.objects.exists()


@pytest.mark.parametrize("content", ["ticket\na\x00b\n", "ticket\n\udc00\n"])
def test_a_nul_or_a_lone_surrogate_in_imported_text_names_the_content(writer, acme, content):
    writer.post(f"{API}/datasets", {"name": "mini"}, format="json")
    body = json.dumps({"format": "csv", "content": content})
    r = writer.post(f"{API}/datasets/mini/cases", body, content_type="application/json")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "content"
    assert not DatasetCase.objects.exists()


def test_a_byte_order_mark_in_imported_text_is_dropped(writer, acme):
    writer.post(f"{API}/datasets", {"name": "mini"}, format="json")
    r = writer.post(f"{API}/datasets/mini/cases", {"format": "csv", "content": "\ufeffticket\nhi\n"}, format="json")
    assert r.status_code == 201
    assert DatasetCase.objects.get().input == {"ticket": "hi"}


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_of_one_dataset_name_answer_201_or_409(api_client, acme_write_key):
    def create() -> int:
        return api_client(acme_write_key).post(f"{API}/datasets", {"name": "race"}, format="json").status_code

    statuses = at_once(10, create)
    assert sorted(statuses, key=str).count(201) == 1 and set(statuses) <= {201, 400, 409}, statuses
    assert Dataset.objects.filter(name="race").count() == 1


def test_the_csv_export_neutralises_spreadsheet_formulas(writer, tickets):
    formulas = ['=HYPERLINK("http://evil.example")', "+cmd|' /C calc'!A0", "@SUM(1+1)"]
    cases_add(dataset=tickets, cases=[CaseData(input={"t": "x"}, expected_output=f, tags=(f,)) for f in formulas])
    body = writer.get(f"{API}/datasets/tickets/cases?as=csv").content.decode()
    rows = list(csv.reader(io.StringIO(body)))[1:]
    assert all(not cell or cell[0] not in "=+-@\t\r" for row in rows for cell in row)
    assert [row[1] for row in rows[-3:]] == ["'" + f for f in formulas]


def _batch_with_failures(writer, experiment) -> Batch:
    pk = writer.post(f"{API}/batches", {"experiment": experiment.pk, "dataset": "tickets"}, format="json").json()["id"]
    batch = batch_run_inline(batch=Batch.objects.get(pk=pk))
    first, second, third = batch.items.order_by("id")[:3]
    BatchItem.objects.filter(pk__in=[first.pk, second.pk]).update(
        status="failed", error_kind="auth", error="The provider refused the API key (401).", attempts=1
    )
    BatchItem.objects.filter(pk=third.pk).update(status="failed", error_kind="timeout", error="Timed out.", attempts=4)
    return batch


def test_the_failed_calls_are_listed_with_their_errors(writer, triage_experiment, tickets):
    batch = _batch_with_failures(writer, triage_experiment)
    r = writer.get(f"{API}/batches/{batch.pk}/items?status=failed")
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 3
    first = batch.items.order_by("id").select_related("variant").first()
    assert body["results"][0] == {
        "id": first.pk, "variant": first.variant.key, "case": first.case_id, "repeat": 0, "status": "failed",
        "attempts": 1, "error_kind": "auth", "error": "The provider refused the API key (401).",
    }  # fmt: skip
    assert [row["error_kind"] for row in body["results"]] == ["auth", "auth", "timeout"]


def test_the_items_list_is_paginated_like_the_other_lists(writer, triage_experiment, tickets):
    batch = _batch_with_failures(writer, triage_experiment)
    body = writer.get(f"{API}/batches/{batch.pk}/items?page_size=5").json()
    assert body["count"] == batch.total and len(body["results"]) == 5 and body["next"]


def test_an_unknown_item_status_names_the_parameter(writer, triage_experiment, tickets):
    batch = _batch_with_failures(writer, triage_experiment)
    r = writer.get(f"{API}/batches/{batch.pk}/items?status=broken")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "status"


def test_another_projects_key_cannot_list_the_items(api_client, globex_key, writer, triage_experiment, tickets):
    batch = _batch_with_failures(writer, triage_experiment)
    assert api_client(globex_key).get(f"{API}/batches/{batch.pk}/items").status_code == 404


def test_the_batch_shows_its_errors_by_kind_with_an_example(writer, triage_experiment, tickets):
    batch = _batch_with_failures(writer, triage_experiment)
    assert writer.get(f"{API}/batches/{batch.pk}").json()["errors"] == [
        {"kind": "auth", "count": 2, "example": "The provider refused the API key (401)."},
        {"kind": "timeout", "count": 1, "example": "Timed out."},
    ]


def test_a_dataset_of_a_template_types_its_csv_and_each_import_is_a_new_version(writer, triage_experiment):
    r = writer.post(f"{API}/datasets", {"name": "triage", "template": "triage"}, format="json")
    assert r.status_code == 201 and (r.json()["template"], r.json()["version"]) == ("triage", 1)
    r = writer.post(f"{API}/datasets/triage/cases", {"format": "csv", "content": "ticket,colour\nx,red\n"},
                    format="json")  # fmt: skip
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "colour"
    for content in ("ticket\nRefund please\n", "ticket\nRefund please\nLogin fails\n"):
        r = writer.post(f"{API}/datasets/triage/cases", {"format": "csv", "content": content, "replace": True},
                        format="json")  # fmt: skip
        assert r.status_code == 201
    assert (r.json()["version"], r.json()["cases"]) == (2, 2)
    assert [d["name"] for d in writer.get(f"{API}/datasets").json()["results"]] == ["triage"]


def test_an_unknown_template_for_a_dataset_is_a_400_naming_it(writer, acme):
    r = writer.post(f"{API}/datasets", {"name": "x", "template": "nope"}, format="json")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "template"


def test_a_dataset_without_a_template_may_declare_its_variables(writer, acme):
    declared = [{"name": "tags", "type": "list"}, {"name": "n", "type": "integer", "required": True}]
    assert writer.post(f"{API}/datasets", {"name": "own", "variables": declared}, format="json").status_code == 201
    r = writer.post(f"{API}/datasets/own/cases", {"format": "csv", "content": "tags,n\na; b,3\n"}, format="json")
    assert r.status_code == 201
    assert Dataset.objects.get(name="own").cases.get().input == {"tags": ["a", "b"], "n": 3}
    bad = writer.post(f"{API}/datasets", {"name": "bad", "variables": [{"name": "x", "type": "date"}]}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "variables"
