"""The batch and dataset admin pages: start, live progress, cancel, review, import."""

import csv
import io
import json

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


def test_a_big_batch_started_from_the_admin_is_written_by_a_task_and_starts_once_written(
    as_bob, triage_experiment, tickets, settings
):
    settings.PROMPTLIB_BATCH_PREPARE_INLINE_ITEMS = 10
    r = as_bob.post("/admin/promptlib/batch/start/", {"experiment": triage_experiment.pk, "dataset": tickets.pk,
                                                      "repeats": 1}, follow=True)  # fmt: skip
    batch = Batch.objects.get()
    assert batch.status == Batch.Status.PREPARING and batch.start_when_prepared and not batch.items.exists()
    html = r.content.decode()
    assert "writing its 12 calls" in html
    assert 'writing the calls: <span data-k="prepared">0</span> of 12' in html


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


# --- starting a batch: defaults that run, or what to set up first -----------------------------------


def _openai_experiment(acme):
    """An experiment whose versions name provider 'openai', which the project lacks."""
    from dataclasses import replace

    from promptlib.experiments.services import VariantSpec, experiment_create
    from promptlib.prompts.services import template_create, version_create
    from tests.batches_support import triage_content

    template = template_create(project=acme, slug="triage-openai", title="Triage (OpenAI)")
    v1, _ = version_create(template=template, content=replace(triage_content("Classify."), provider="openai",
                                                              model="gpt-4o-mini"))  # fmt: skip
    v2, _ = version_create(template=template, content=replace(triage_content("Classify it."), provider="openai",
                                                              model="gpt-4o-mini"))  # fmt: skip
    return experiment_create(
        template=template, name="OpenAI wording",
        variants=[VariantSpec(key="control", version=v1, is_control=True), VariantSpec(key="b", version=v2)],
    )  # fmt: skip


def test_the_start_page_preselects_the_template_dataset_and_a_provider_that_exists(as_bob, acme, demo_provider):
    from promptlib.batches.datasets import dataset_create

    experiment = _openai_experiment(acme)
    dataset_create(project=acme, name="unrelated")
    own = dataset_create(project=acme, name="triage-cases", template=experiment.template)
    cases_add(dataset=own, cases=[CaseData(input={"ticket": "My card was charged twice"})])

    form = as_bob.get(f"/admin/promptlib/batch/start/?experiment={experiment.pk}").context["form"]

    assert form.initial["dataset"] == own.pk and form.initial["provider"] == demo_provider.pk
    assert form.initial["model"] == "demo-model" and form.fields["repeats"].initial == 1
    assert not form.missing
    # What the page offers runs as it is: posting its preselected values starts a batch.
    posted = {"experiment": experiment.pk, "dataset": own.pk, "provider": demo_provider.pk, "model": "demo-model",
              "repeats": form.fields["repeats"].initial}  # fmt: skip
    r = as_bob.post("/admin/promptlib/batch/start/", posted)
    assert r.status_code == 302, r.context["form"].errors if r.context else r
    assert Batch.objects.get().total == 2


def test_the_start_page_says_what_to_set_up_when_nothing_can_run(as_bob, acme):
    experiment = _openai_experiment(acme)
    html = as_bob.get(f"/admin/promptlib/batch/start/?experiment={experiment.pk}").content.decode()
    assert "Set up an AI provider first" in html and "“openai”" in html
    assert "/admin/promptlib/providerconfig/add/" in html
    assert "has no dataset yet" in html and f"/admin/promptlib/dataset/add/?template={experiment.template_id}" in html


def test_the_dataset_list_of_the_start_page_has_this_template_datasets_only(as_bob, acme, triage_experiment):
    from promptlib.batches.datasets import dataset_create
    from promptlib.prompts.services import template_create

    other = template_create(project=acme, slug="welcome", title="Welcome")
    mine = dataset_create(project=acme, name="mine", template=triage_experiment.template)
    dataset_create(project=acme, name="theirs", template=other)
    form = as_bob.get(f"/admin/promptlib/batch/start/?experiment={triage_experiment.pk}").context["form"]
    assert [d.name for d in form.fields["dataset"].queryset] == ["mine"] and form.initial["dataset"] == mine.pk


# --- datasets of a template in the admin --------------------------------------------------------------


def test_a_csv_with_a_list_column_imports_typed_and_a_fix_is_a_new_version(as_bob, acme, triage_experiment):
    from promptlib.batches.datasets import dataset_create
    from promptlib.prompts.content import VersionContent
    from promptlib.prompts.services import template_create, version_create

    template = template_create(project=acme, slug="offer", title="Offer")
    variables = [{"name": "product", "type": "string"}, {"name": "benefits", "type": "list"}]
    version_create(template=template, content=VersionContent(task="Sell {{ product }}.", variables=variables))
    dataset = dataset_create(project=acme, name="offers", template=template)
    url = f"/admin/promptlib/dataset/{dataset.pk}/import/"

    page = as_bob.get(url).content.decode()
    assert "<code>benefits</code>" in page and "separated by" in page  # the columns and how to write a list
    bad = as_bob.post(url, {"file": SimpleUploadedFile("o.csv", b"product,benefits,colour\nShoes,a;b,red\n")})
    assert [(p["line"], p["field"]) for p in bad.context["problems"]] == [(1, "colour")]

    as_bob.post(url, {"file": SimpleUploadedFile("o.csv", b'product,benefits\nShoes,"[""light"",""cheap""]"\n')})
    r = as_bob.post(url, {"file": SimpleUploadedFile("o.csv", b"product,benefits\nHats,warm; soft\n"), "replace": "1"},
                    follow=True)  # fmt: skip
    dataset.refresh_from_db()
    assert dataset.version == 2 and [c.input["benefits"] for c in dataset.cases.all()] == [["warm", "soft"]]
    assert "version 2 of offers has 1 case" in r.content.decode()
    assert 'id="dataset-versions"' in as_bob.get(f"/admin/promptlib/dataset/{dataset.pk}/change/").content.decode()


def test_the_dataset_list_shows_each_dataset_once_not_its_kept_versions(as_bob, tickets):
    as_bob.post(f"/admin/promptlib/dataset/{tickets.pk}/import/", {"file": SimpleUploadedFile("c.csv", b"ticket\nx\n")})
    r = as_bob.get("/admin/promptlib/dataset/")
    assert [d.pk for d in r.context["cl"].result_list] == [tickets.pk]


def test_a_kept_version_shows_its_cases_read_only_and_offers_no_import(as_bob, tickets):
    as_bob.post(f"/admin/promptlib/dataset/{tickets.pk}/import/", {"file": SimpleUploadedFile("c.csv", b"ticket\nx\n")})
    kept = tickets.earlier_versions.get()
    page = as_bob.get(f"/admin/promptlib/dataset/{kept.pk}/change/")
    html = page.content.decode()
    assert 'id="kept-version"' in html and 'id="import-cases-link"' not in html
    assert 'name="cases-0-input"' not in html and 'name="name"' not in html  # shown, not editable


def test_cases_that_would_fail_every_call_are_refused_before_the_batch(as_bob, acme, triage_experiment):
    from promptlib.batches.datasets import dataset_create

    legacy = dataset_create(project=acme, name="legacy")  # no template: an older import kept text as it was
    cases_add(dataset=legacy, cases=[CaseData(input={"ticket": 42}), CaseData(input={"tickett": "typo"})])
    r = as_bob.post("/admin/promptlib/batch/start/", {"experiment": triage_experiment.pk, "dataset": legacy.pk,
                                                      "repeats": 1})  # fmt: skip
    error = str(r.context["form"].errors["dataset"])
    assert "Case 1, version 1: &#x27;ticket&#x27; must be of type string, got int" in error
    assert "Case 2, version 1: &#x27;tickett&#x27; is not a variable" in error
    assert f"/admin/promptlib/dataset/{legacy.pk}/import/" in error
    assert not Batch.objects.exists()


def test_a_cases_tags_are_typed_and_shown_as_words_separated_by_commas(as_bob, tickets):
    from promptlib.batches.admin.datasets import CaseForm

    case = tickets.cases.order_by("position").first()
    form = CaseForm(
        data={
            "input": json.dumps(case.input),
            "expected_output": "",
            "expected_fields": json.dumps(case.expected_fields),
            "tags": "billing, vip ,",
        },
        instance=case,
    )
    assert form.is_valid(), form.errors
    assert form.save().tags == ["billing", "vip"]
    page = as_bob.get(f"/admin/promptlib/dataset/{tickets.pk}/change/").content.decode()
    assert 'value="billing, vip"' in page
