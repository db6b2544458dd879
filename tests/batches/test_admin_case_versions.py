"""Cases edited by hand follow the import's rule: once a batch ran on them, a change makes a new version."""

import pytest

from promptlib.batches.datasets import (
    DatasetError,
    cases_import,
    dataset_create,
    dataset_version_for_edit,
)
from promptlib.batches.models import Dataset
from tests.batches_support import make_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_bob(client, bob):
    client.force_login(bob)
    return client


@pytest.fixture
def triage_cases(acme, triage_experiment):
    dataset = dataset_create(project=acme, name="triage-cases", template=triage_experiment.template)
    cases_import(dataset=dataset, content="ticket,expected.category\nCharged twice,billing\nNo login,account\n",
                 fmt="csv")  # fmt: skip
    return dataset


def _rows(dataset) -> list[dict]:
    return [{"id": c.pk, "var_ticket": c.input["ticket"], "expected_0": c.expected_fields["category"],
             "expected_output": "", "tags": ""} for c in dataset.cases.order_by("position")]  # fmt: skip


def _post(client, dataset, rows: list[dict], *, initial: int):
    data = {"project": dataset.project_id, "name": dataset.name, "description": "", "template": dataset.template_id,
            "cases-TOTAL_FORMS": len(rows), "cases-INITIAL_FORMS": initial, "cases-MIN_NUM_FORMS": 0,
            "cases-MAX_NUM_FORMS": 1000}  # fmt: skip
    for i, row in enumerate(rows):
        data.update({f"cases-{i}-{k}": v for k, v in row.items()})
    return client.post(f"/admin/promptlib/dataset/{dataset.pk}/change/", data, follow=True)


def _tickets(dataset) -> list[str]:
    return [c.input["ticket"] for c in dataset.cases.order_by("position")]


def test_editing_a_case_a_batch_ran_makes_a_new_version_and_the_batch_keeps_what_it_ran(
    as_bob, triage_experiment, triage_cases
):
    batch = make_batch(triage_experiment, triage_cases)
    ran = set(batch.items.values_list("case_id", flat=True))
    rows = _rows(triage_cases)
    rows[0]["var_ticket"] = "Charged three times"

    r = _post(as_bob, triage_cases, rows, initial=2)

    assert r.status_code == 200 and r.redirect_chain
    triage_cases.refresh_from_db()
    batch.refresh_from_db()
    assert triage_cases.version == 2 and _tickets(triage_cases) == ["Charged three times", "No login"]
    kept = batch.dataset
    assert kept.version_of == triage_cases and kept.version == 1
    assert _tickets(kept) == ["Charged twice", "No login"] and set(kept.cases.values_list("id", flat=True)) == ran
    assert "your changes made version 2 of triage-cases; version 1 keeps the cases" in r.content.decode()


def test_adding_and_deleting_cases_a_batch_ran_on_makes_a_new_version(as_bob, triage_experiment, triage_cases):
    make_batch(triage_experiment, triage_cases)
    rows = _rows(triage_cases)
    rows[1]["DELETE"] = "on"
    rows.append({"var_ticket": "Parcel lost", "expected_0": "shipping", "expected_output": "", "tags": ""})

    _post(as_bob, triage_cases, rows, initial=2)

    triage_cases.refresh_from_db()
    assert triage_cases.version == 2 and _tickets(triage_cases) == ["Charged twice", "Parcel lost"]
    assert _tickets(triage_cases.earlier_versions.get()) == ["Charged twice", "No login"]
    assert triage_cases.cases.get(position=3).expected_fields == {"category": "shipping"}


def test_cases_no_batch_ran_on_are_edited_in_place(as_bob, triage_cases):
    rows = _rows(triage_cases)
    rows[0]["expected_0"] = "account"
    case_ids = set(triage_cases.cases.values_list("id", flat=True))

    r = _post(as_bob, triage_cases, rows, initial=2)

    triage_cases.refresh_from_db()
    assert triage_cases.version == 1 and not triage_cases.earlier_versions.exists()
    assert set(triage_cases.cases.values_list("id", flat=True)) == case_ids
    assert triage_cases.cases.get(position=1).expected_fields == {"category": "account"}
    assert "made version" not in r.content.decode()


def test_a_second_edit_after_the_new_version_is_in_place_until_a_batch_runs_again(
    as_bob, triage_experiment, triage_cases
):
    make_batch(triage_experiment, triage_cases)
    rows = _rows(triage_cases)
    rows[0]["var_ticket"] = "Edit one"
    _post(as_bob, triage_cases, rows, initial=2)
    triage_cases.refresh_from_db()
    rows = _rows(triage_cases)
    rows[0]["var_ticket"] = "Edit two"
    _post(as_bob, triage_cases, rows, initial=2)
    triage_cases.refresh_from_db()
    assert triage_cases.version == 2 and _tickets(triage_cases)[0] == "Edit two"
    assert Dataset.objects.filter(version_of=triage_cases).count() == 1


def test_saving_the_dataset_without_touching_its_cases_makes_no_version(as_bob, triage_experiment, triage_cases):
    make_batch(triage_experiment, triage_cases)
    _post(as_bob, triage_cases, _rows(triage_cases), initial=2)
    triage_cases.refresh_from_db()
    assert triage_cases.version == 1 and not triage_cases.earlier_versions.exists()


def test_the_page_says_which_version_is_edited_and_that_a_change_makes_the_next(
    as_bob, triage_experiment, triage_cases
):
    html = as_bob.get(f"/admin/promptlib/dataset/{triage_cases.pk}/change/").content.decode()
    assert "You are editing <strong>version 1</strong>" in html and "saved in this version" in html
    make_batch(triage_experiment, triage_cases)
    html = as_bob.get(f"/admin/promptlib/dataset/{triage_cases.pk}/change/").content.decode()
    assert "1 batch ran on its cases" in html and "makes <strong>version 2</strong>" in html


def test_a_kept_version_is_never_edited(triage_experiment, triage_cases):
    make_batch(triage_experiment, triage_cases)
    dataset_version_for_edit(dataset=triage_cases)
    with pytest.raises(DatasetError) as exc:
        dataset_version_for_edit(dataset=triage_cases.earlier_versions.get())
    assert exc.value.status == 409
