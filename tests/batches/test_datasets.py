"""Dataset import and export: CSV and JSONL, bad rows reported by line, nothing half-imported."""

import json

import pytest

from promptlib.batches.datasets import DatasetError, cases_export, cases_import, dataset_create
from promptlib.batches.models import DatasetCase

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(acme):
    return dataset_create(project=acme, name="tickets")


def test_it_imports_csv_columns_as_variables_and_special_columns(dataset):
    csv_text = 'ticket,expected_fields,tags\n"Refund please","{""category"": ""billing""}","a, b"\n'
    assert cases_import(dataset=dataset, content=csv_text, fmt="csv") == 1
    case = dataset.cases.get()
    assert case.input == {"ticket": "Refund please"}
    assert case.expected_fields == {"category": "billing"}
    assert case.tags == ["a", "b"]


def test_it_imports_jsonl_with_typed_inputs(dataset):
    line = {"input": {"n": 3, "items": ["a"]}, "expected_output": "ok", "tags": ["x"]}
    cases_import(dataset=dataset, content=json.dumps(line) + "\n\n", fmt="jsonl")
    assert dataset.cases.get().input == {"n": 3, "items": ["a"]}


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(dataset):
    content = '{"input": {"t": "ok"}}\nnot json\n{"input": [1]}\n{"input": {}, "colour": "red"}\n'
    with pytest.raises(DatasetError) as exc:
        cases_import(dataset=dataset, content=content, fmt="jsonl")
    assert [(e["line"], e["field"]) for e in exc.value.rows] == [(2, "line"), (3, "input"), (4, "colour")]
    assert not DatasetCase.objects.exists()


def test_a_csv_row_with_bad_json_names_its_line_and_column(dataset):
    content = "ticket,expected_fields\nfine,{}\nbroken,{nope\n"
    with pytest.raises(DatasetError) as exc:
        cases_import(dataset=dataset, content=content, fmt="csv")
    assert exc.value.rows == [{"line": 3, "field": "expected_fields", "message": exc.value.rows[0]["message"]}]
    assert not DatasetCase.objects.exists()


def test_positions_continue_after_earlier_imports(dataset):
    cases_import(dataset=dataset, content='{"input": {"t": "1"}}\n', fmt="jsonl")
    cases_import(dataset=dataset, content='{"input": {"t": "2"}}\n', fmt="jsonl")
    assert list(dataset.cases.values_list("position", flat=True)) == [1, 2]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_export_imports_back_to_the_same_cases(dataset, acme, fmt):
    source = '{"input": {"n": 2, "t": "a,b"}, "expected_output": "x", "expected_fields": {"k": 1}, "tags": ["p"]}\n'
    cases_import(dataset=dataset, content=source, fmt="jsonl")
    copy = dataset_create(project=acme, name="copy")
    cases_import(dataset=copy, content=cases_export(dataset=dataset, fmt=fmt), fmt=fmt)
    fields = ("input", "expected_output", "expected_fields", "tags")
    assert list(copy.cases.values(*fields)) == list(dataset.cases.values(*fields))


def test_it_rejects_an_unknown_format(dataset):
    with pytest.raises(DatasetError) as exc:
        cases_import(dataset=dataset, content="", fmt="xml")
    assert exc.value.field == "format"


def test_it_rejects_a_duplicate_dataset_name(dataset, acme):
    with pytest.raises(DatasetError) as exc:
        dataset_create(project=acme, name="tickets")
    assert exc.value.field == "name"
