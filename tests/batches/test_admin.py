"""The batch and dataset admin pages: start, live progress, cancel, review, import."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from promptlib.batches.datasets import CaseData, cases_add
from promptlib.batches.models import Batch, BatchItem, Review
from promptlib.batches.services import batch_run_inline, batch_start
from tests.batches_support import make_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_bob(client, bob):
    client.force_login(bob)
    return client


def test_an_editor_starts_a_batch_from_the_admin(as_bob, triage_experiment, tickets):
    r = as_bob.post("/admin/promptlib/batch/start/", {"experiment": triage_experiment.pk, "dataset": tickets.pk,
                                                      "repeats": 1})  # fmt: skip
    batch = Batch.objects.get()
    assert r.status_code == 302 and r["Location"].endswith(f"/batch/{batch.pk}/change/")
    assert batch.status == Batch.Status.RUNNING


def test_the_progress_endpoint_answers_json(as_bob, triage_experiment, tickets):
    batch = batch_run_inline(batch=make_batch(triage_experiment, tickets))
    body = as_bob.get(f"/admin/promptlib/batch/{batch.pk}/progress.json").json()
    assert body["done"] == 12 and body["status"] == "finished"


def test_the_batch_page_shows_progress_and_polls_it(as_bob, triage_experiment, tickets):
    batch = make_batch(triage_experiment, tickets)
    html = as_bob.get(f"/admin/promptlib/batch/{batch.pk}/change/").content.decode()
    assert "batch_progress.js" in html and "progress.json" in html


def test_another_project_cannot_see_the_batch(client, gina, triage_experiment, tickets):
    batch = make_batch(triage_experiment, tickets)
    client.force_login(gina)
    assert client.get(f"/admin/promptlib/batch/{batch.pk}/progress.json").status_code == 404


def test_a_viewer_cannot_cancel(client, victor, triage_experiment, tickets):
    batch = make_batch(triage_experiment, tickets)
    client.force_login(victor)
    assert client.post(f"/admin/promptlib/batch/{batch.pk}/cancel/").status_code == 403


def test_an_editor_cancels_a_batch(as_bob, triage_experiment, tickets):
    batch = make_batch(triage_experiment, tickets)
    as_bob.post(f"/admin/promptlib/batch/{batch.pk}/cancel/", {"confirmed": "on"})
    assert Batch.objects.get(pk=batch.pk).status == Batch.Status.CANCELLED


def test_a_review_records_the_seconds_from_page_open(as_bob, triage_experiment, tickets):
    batch = batch_run_inline(batch=make_batch(triage_experiment, tickets))
    item = batch.items.order_by("id").first()
    page = as_bob.get(f"/admin/promptlib/batchitem/{item.pk}/review/")
    opened = page.context["form"].initial["opened"]
    as_bob.post(f"/admin/promptlib/batchitem/{item.pk}/review/",
                {"decision": "reject", "edited_output": "", "opened": opened})  # fmt: skip
    review = Review.objects.get()
    assert review.approved is False and review.seconds >= 0


def test_an_upload_with_a_bad_row_lists_it_and_imports_nothing(as_bob, tickets):
    upload = SimpleUploadedFile("cases.jsonl", b'{"input": {"ticket": "x"}}\n{"input": 5}\n')
    r = as_bob.post(f"/admin/promptlib/dataset/{tickets.pk}/import/", {"file": upload})
    assert r.status_code == 200
    assert [p["line"] for p in r.context["problems"]] == [2]
    assert tickets.cases.count() == 6


def test_an_upload_imports_the_cases(as_bob, tickets):
    upload = SimpleUploadedFile("cases.csv", b"ticket\nhello\n")
    as_bob.post(f"/admin/promptlib/dataset/{tickets.pk}/import/", {"file": upload})
    assert tickets.cases.count() == 7


def test_the_dataset_exports_as_jsonl(as_bob, tickets):
    r = as_bob.get(f"/admin/promptlib/dataset/{tickets.pk}/export/jsonl/")
    assert len(r.content.decode().splitlines()) == 6


# --- attacks: formulas in the CSV export, integers past the database's range --------------------------


def test_the_dataset_csv_export_neutralises_spreadsheet_formulas(as_bob, tickets):
    formulas = ['=HYPERLINK("http://evil.example")', "+cmd|' /C calc'!A0", "@SUM(1+1)"]
    cases_add(dataset=tickets, cases=[CaseData(input={"t": "x"}, expected_output=f) for f in formulas])
    body = as_bob.get(f"/admin/promptlib/dataset/{tickets.pk}/export/csv/").content.decode()
    rows = list(csv.reader(io.StringIO(body)))[1:]
    assert all(not cell or cell[0] not in "=+-@\t\r" for row in rows for cell in row)
    assert [row[1] for row in rows[-3:]] == ["'" + f for f in formulas]


def _failed_batch(experiment, dataset) -> Batch:
    batch = batch_run_inline(batch=make_batch(experiment, dataset))
    first, second, third = batch.items.order_by("id")[:3]
    BatchItem.objects.filter(pk__in=[first.pk, second.pk]).update(
        status="failed", error_kind="auth", error="The provider refused the API key (401)."
    )
    BatchItem.objects.filter(pk=third.pk).update(status="failed", error_kind="timeout", error="Timed out <slow>.")
    return batch


def test_the_batch_page_shows_its_errors_by_kind_with_counts_and_an_example(as_bob, triage_experiment, tickets):
    batch = _failed_batch(triage_experiment, tickets)
    html = as_bob.get(f"/admin/promptlib/batch/{batch.pk}/change/").content.decode()
    section = html[html.index('id="batch-errors"') :]
    assert section.index(">auth</a>") < section.index(">timeout</a>")
    assert "<td>2</td>" in section and "The provider refused the API key (401)." in section
    assert "Timed out &lt;slow&gt;." in section  # escaped, as every message from a provider
    assert f"?q={batch.pk}&amp;status__exact=failed&amp;error_kind=auth" in section


def test_a_batch_without_failures_shows_no_error_summary(as_bob, triage_experiment, tickets):
    batch = batch_run_inline(batch=make_batch(triage_experiment, tickets))
    assert 'id="batch-errors"' not in as_bob.get(f"/admin/promptlib/batch/{batch.pk}/change/").content.decode()


def test_the_answers_list_shows_each_error_and_filters_by_kind(as_bob, triage_experiment, tickets):
    batch = _failed_batch(triage_experiment, tickets)
    r = as_bob.get(f"/admin/promptlib/batchitem/?q={batch.pk}&error_kind=auth")
    assert r.status_code == 200
    assert [item.error_kind for item in r.context["cl"].result_list] == ["auth", "auth"]
    html = r.content.decode()
    assert "auth: The provider refused the API key (401)." in html and "kind of error" in html


def test_a_batch_stopped_early_shows_why_and_offers_to_resume(as_bob, triage_experiment, tickets):
    from promptlib.batches.runner import batch_fail

    batch = batch_start(batch=make_batch(triage_experiment, tickets))
    BatchItem.objects.filter(pk=batch.items.first().pk).update(status="failed", error_kind="auth", error="401")
    batch_fail(batch=batch, error="The provider refused the API key (401).")
    html = as_bob.get(f"/admin/promptlib/batch/{batch.pk}/change/").content.decode()
    assert "The provider refused the API key (401)." in html
    assert f"Re-run 1 failed and {batch.total - 1} stopped" in html
