"""Scripting batches through the REST API: providers, datasets, scorers, batches."""

import pytest

from promptlib.batches.models import Batch, BatchItem
from promptlib.batches.services import batch_run_inline

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
