"""Datasets: create, import cases from CSV or JSONL (all rows or none), export them the same way.

CSV: a header row; the columns `input` (a JSON object of variables), `expected_output`,
`expected_fields` (a JSON object; or one column per field, `expected.category`) and `tags`
(comma-separated, or a JSON list) are special; every
other column is one input variable. A dataset with a template (or its own declaration) types those
columns from the declared variables (promptlib.batches.dataset_types) and checks every row against
the declaration, naming the line and column of each problem; without one, a cell is kept as text.
A declared variable named like a special column (e.g. `tags`) takes that column.

Versions: each import into a dataset that already has cases makes its next version. The cases of
the version before are moved, with the batches that ran on them, to a kept copy of the dataset row
(`version_of`), so the dataset keeps its name and every batch keeps the cases it ran. Cases edited,
added or deleted by hand (the admin) make the next version the same way when a batch ran on the
current cases, and are changed in place when none did (dataset_version_for_edit).

JSONL: one object per line with the keys input, expected_output, expected_fields and tags.
Exports use the `input` JSON column, so that typed values (numbers, lists) survive a round trip,
and neutralise spreadsheet formulas (core.csv), which the import undoes.

An import refuses, line by line and before anything is stored, what the database or the parser
would fail on: NUL characters, NaN/Infinity/1e999, lone surrogates, deep nesting, CSV cells over
the csv module's field limit; a byte-order mark is dropped and UTF-16 files (with their BOM) read.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from promptlib.batches.dataset_types import cell_value, input_problems, variables_declared, variables_validate
from promptlib.batches.models import Batch, Dataset, DatasetCase
from promptlib.core.csv import csv_line, csv_unsafe
from promptlib.core.errors import DomainError
from promptlib.core.jsonvalues import json_parse_storable, json_problem
from promptlib.core.models import Project
from promptlib.prompts.models import Template

MAX_CASES = 50_000
FORMATS = ("csv", "jsonl")
CASE_KEYS = ("input", "expected_output", "expected_fields", "tags")
# What a case with a knowledge base expects the retrieval to find (context recall): documents by
# source, and facts (phrases) the retrieved passages must hold. CSV: one per line, or a JSON list.
GROUNDING_KEYS = ("expected_sources", "expected_facts")
EXPECTED_PREFIX = "expected."  # a CSV column `expected.category` holds that expected field


class DatasetError(DomainError):
    def __init__(self, message: str, *, field: str = "", rows: list[dict] | None = None, status: int | None = None):
        super().__init__(message, field=field, code="conflict" if status == 409 else None, status=status)
        self.rows = rows or []  # [{"line": n, "field": ..., "message": ...}] for imports

    def entries(self) -> list[dict[str, str]]:
        if not self.rows:
            return super().entries()
        return [
            {"field": row["field"], "code": "invalid_row", "message": f"Line {row['line']}: {row['message']}"}
            for row in self.rows
        ]


@dataclass(frozen=True)
class CaseData:
    input: dict[str, Any]
    expected_output: str = ""
    expected_fields: dict[str, Any] | None = None
    tags: tuple[str, ...] = ()
    expected_sources: tuple[str, ...] = ()
    expected_facts: tuple[str, ...] = ()


def _phrases(value: Any, field: str) -> tuple[str, ...]:
    """A list of short texts (expected sources or facts), blanks dropped."""
    if value in (None, ""):
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DatasetError(f"{field} must be a list of texts.", field=field)
    if len(value) > 100 or any(len(v) > 2000 for v in value):
        raise DatasetError(f"{field}: at most 100 entries of up to 2,000 characters.", field=field)
    return tuple(v.strip() for v in value if v.strip())


def _phrases_cell(value: str, field: str) -> list[str]:
    value = csv_unsafe(value.strip())
    if value.startswith("["):
        return _json_cell(value, field, kind=list)
    return [line.strip() for line in value.splitlines() if line.strip()]


def dataset_create(
    *,
    project: Project,
    name: str,
    description: str = "",
    template: Template | None = None,
    variables: list[dict] | None = None,
) -> Dataset:
    """A new, empty dataset; with a template (or declared variables) its imports are typed and checked."""
    taken = f"A dataset named '{name}' already exists in this project."
    if template is not None and template.project_id != project.pk:
        raise DatasetError("The template belongs to another project.", field="template")
    try:
        declared = variables_validate(variables or [])
    except ValueError as exc:
        raise DatasetError(str(exc), field="variables") from exc
    if Dataset.objects.current().filter(project=project, name=name).exists():
        raise DatasetError(taken, field="name")
    try:
        with transaction.atomic():
            return Dataset.objects.create(
                project=project, name=name, description=description, template=template, variables=declared
            )
    except IntegrityError as exc:  # created by a concurrent request since the check above
        raise DatasetError(taken, field="name", status=409) from exc


def dataset_variables(*, dataset: Dataset) -> list[dict]:
    """The variables the dataset's cases fill, with their types ([] when nothing is declared)."""
    return variables_declared(template=dataset.template, variables=dataset.variables)


def case_data_validate(data: Any) -> CaseData:
    """One case from a plain dict; raises DatasetError naming the field."""
    if not isinstance(data, dict):
        raise DatasetError("Each case must be a JSON object.", field="case")
    unknown = sorted(set(data) - set(CASE_KEYS) - set(GROUNDING_KEYS))
    if unknown:
        raise DatasetError(
            f"Unknown key '{unknown[0]}'; use {', '.join(CASE_KEYS + GROUNDING_KEYS)}.", field=unknown[0]
        )
    inputs = data.get("input", {})
    if not isinstance(inputs, dict):
        raise DatasetError("input must be a JSON object of variable → value.", field="input")
    expected_output = data.get("expected_output") or ""
    if not isinstance(expected_output, str):
        raise DatasetError("expected_output must be text.", field="expected_output")
    expected_fields = data.get("expected_fields") or {}
    if not isinstance(expected_fields, dict):
        raise DatasetError(
            'expected_fields must be a JSON object, e.g. {"category": "billing"}.', field="expected_fields"
        )
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        raise DatasetError("tags must be a list of words.", field="tags")
    for field, value in (("input", inputs), ("expected_output", expected_output),
                         ("expected_fields", expected_fields), ("tags", tags)):  # fmt: skip
        problem = json_problem(value)
        if problem:
            raise DatasetError(f"{field} {problem}.", field=field)
    return CaseData(
        inputs,
        expected_output,
        expected_fields,
        tuple(t.strip() for t in tags),
        _phrases(data.get("expected_sources"), "expected_sources"),
        _phrases(data.get("expected_facts"), "expected_facts"),
    )


def _json_cell(value: str, field: str, *, kind: type) -> Any:
    try:
        parsed = json_parse_storable(value)
    except ValueError as exc:
        raise DatasetError(f"{field} is not valid JSON: {exc}.", field=field) from exc
    if not isinstance(parsed, kind):
        raise DatasetError(f"{field} must be a JSON {'object' if kind is dict else 'list'}.", field=field)
    return parsed


def _csv_row(row: dict[str, str], types: dict[str, str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A CSV row as case data, and (column, problem) for each cell that could not be read."""
    data: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for column, value in row.items():
        if column is None:
            problems.append(("row", "This row has more cells than the header has columns."))
            continue
        value = value or ""
        try:
            if column in types:  # a declared variable wins over a special column of the same name
                if value.strip():  # an empty cell: the variable's default, or "required"
                    variables[column] = cell_value(types[column], value)
            elif column == "input":
                if value.strip():
                    variables.update(_json_cell(value, "input", kind=dict))
            elif column == "expected_output":
                data["expected_output"] = csv_unsafe(value)
            elif column == "expected_fields":
                if value.strip():
                    data.setdefault("expected_fields", {}).update(_json_cell(value, column, kind=dict))
            elif column.startswith(EXPECTED_PREFIX) and len(column) > len(EXPECTED_PREFIX):
                if value.strip():  # one expected field per column: no JSON to type in a spreadsheet
                    data.setdefault("expected_fields", {})[column[len(EXPECTED_PREFIX) :]] = csv_unsafe(value.strip())
            elif column in GROUNDING_KEYS:
                if value.strip():
                    data[column] = _phrases_cell(value, column)
            elif column == "tags":
                stripped = csv_unsafe(value.strip())
                if stripped.startswith("["):
                    data["tags"] = _json_cell(stripped, column, kind=list)
                else:
                    data["tags"] = [t.strip() for t in stripped.split(",") if t.strip()]
            elif column:
                variables[column] = value
        except DatasetError as exc:
            problems.append((exc.field, exc.message))
        except ValueError as exc:
            problems.append((column, f"Column '{column}': {exc}"))
    data["input"] = variables
    return data, problems


def _text(content: str | bytes) -> str:
    """The file as text: UTF-8 (or UTF-16 with its byte-order mark), without a byte-order mark."""
    if isinstance(content, bytes):
        encoding = "utf-16" if content[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
        try:
            content = content.decode(encoding)
        except UnicodeDecodeError as exc:
            raise DatasetError(
                f"The file is not UTF-8 text (byte {exc.start + 1} cannot be read); save it as UTF-8, "
                'e.g. "CSV UTF-8" in Excel.',
                field="file",
            ) from exc
    return content.removeprefix("\ufeff")


def _csv_reason(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a cell is longer than {csv.field_size_limit():,} characters"
    return text


def cases_parse(*, content: str | bytes, fmt: str, variables: list[dict] | None = None) -> list[CaseData]:
    """Parse a whole file; raises DatasetError listing every problem by line and column.

    `variables`: the declaration the cases must fit (dataset_variables); None or [] checks nothing.
    """
    if fmt not in FORMATS:
        raise DatasetError(f"Unknown format '{fmt}'; use csv or jsonl.", field="format")
    content = _text(content)
    declared = variables or []
    types = {var["name"]: var.get("type", "string") for var in declared}
    rows: list[tuple[int, Any]] = []
    errors: list[dict] = []
    unknown: list[str] = []  # CSV columns that are no variable: named once, on the header
    if fmt == "jsonl":
        for number, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((number, json_parse_storable(line)))
            except ValueError as exc:
                errors.append({"line": number, "field": "line", "message": f"Not valid JSON: {exc}."})
    else:
        reader = csv.DictReader(io.StringIO(content))
        try:
            if not reader.fieldnames:
                raise DatasetError("The CSV file has no header row.", field="file")
            unknown = [
                c
                for c in reader.fieldnames
                if declared and c and c not in types and c not in CASE_KEYS and not c.startswith(EXPECTED_PREFIX)
            ]
            for column in unknown:  # once, on the header, rather than on every row
                errors.append({"line": 1, "field": column, "message": _unknown_column(column, types)})
            for row in reader:
                data, problems = _csv_row({k: v for k, v in row.items() if k not in unknown}, types)
                for field, message in problems:
                    errors.append({"line": reader.line_num, "field": field, "message": message})
                if not problems:
                    rows.append((reader.line_num, data))
        except csv.Error as exc:
            # The reader cannot go on after this (e.g. a cell over csv.field_size_limit(), 131,072 characters).
            line = reader.reader.line_num  # DictReader's own line_num lags until a row is returned
            errors.append({"line": line, "field": "file", "message": f"Not valid CSV: {_csv_reason(exc)}."})
    cases = []
    for number, data in rows:
        try:
            case = case_data_validate(data)
        except DatasetError as exc:
            errors.append({"line": number, "field": exc.field, "message": exc.message})
            continue
        problems = input_problems(declared, case.input) if declared else []
        for field, message in problems:
            if field in unknown:
                continue  # already named on the header
            errors.append({"line": number, "field": field, "message": message})
        cases.append(case)
    if errors:
        errors.sort(key=lambda e: e["line"])
        first = errors[0]
        raise DatasetError(
            f"{len(errors)} problem(s); nothing was imported. Line {first['line']}: {first['message']}",
            field="file",
            rows=errors,
        )
    if not cases:
        raise DatasetError("The file has no cases.", field="file")
    if len(cases) > MAX_CASES:
        raise DatasetError(f"At most {MAX_CASES} cases per import.", field="file")
    return cases


def _unknown_column(column: str, types: dict[str, str]) -> str:
    return (
        f"Column '{column}' is not a variable of this prompt; its variables are {', '.join(sorted(types))} "
        f"(and the optional columns {', '.join(CASE_KEYS[1:])})."
    )


def _version_keep(dataset: Dataset) -> Dataset:
    """Move the dataset's cases, and the batches that ran on them, to a kept copy: its earlier version."""
    kept = Dataset.objects.create(
        project_id=dataset.project_id,
        name=dataset.name,
        description=dataset.description,
        template_id=dataset.template_id,
        variables=dataset.variables,
        version=dataset.version,
        version_of=dataset,
    )
    dataset.cases.update(dataset=kept)
    Batch.objects.filter(dataset=dataset).update(dataset=kept)  # schedules stay: they run the newest
    return kept


@transaction.atomic
def cases_add(*, dataset: Dataset, cases: list[CaseData], replace: bool = False) -> int:
    """Make the dataset's next version: its cases so far (none with replace) plus these. All or nothing.

    The first import into an empty dataset fills version 1. Returns how many cases were added.
    """
    locked = Dataset.objects.select_for_update().get(pk=dataset.pk)  # one import at a time
    if locked.version_of_id is not None:
        raise DatasetError(
            f"This is version {locked.version} of '{locked.name}', kept as it was; import into the dataset itself.",
            field="dataset",
            status=409,
        )
    earlier = list(locked.cases.order_by("position"))
    if earlier:
        _version_keep(locked)
        locked.version += 1
    carried = [] if replace else [
        CaseData(c.input, c.expected_output, c.expected_fields or {}, tuple(c.tags or []),
                 tuple(c.expected_sources or []), tuple(c.expected_facts or [])) for c in earlier
    ]  # fmt: skip
    DatasetCase.objects.bulk_create(
        [
            DatasetCase(
                dataset=locked,
                position=index,
                input=case.input,
                expected_output=case.expected_output,
                expected_fields=case.expected_fields or {},
                tags=list(case.tags),
                expected_sources=list(case.expected_sources),
                expected_facts=list(case.expected_facts),
            )
            for index, case in enumerate([*carried, *cases], start=1)
        ],
        batch_size=2000,
    )
    locked.save(update_fields=["version", "updated_at"])
    dataset.version, dataset.updated_at = locked.version, locked.updated_at
    return len(cases)


def dataset_runs(*, dataset: Dataset) -> int:
    """How many batches ran on the dataset's current cases (an edit of them then makes a new version)."""
    return Batch.objects.filter(dataset=dataset).count()


@transaction.atomic
def dataset_version_for_edit(*, dataset: Dataset) -> dict[int, int]:
    """Before its cases are edited by hand: a new version if batches ran on them, as an import makes one.

    The cases the batches ran stay, with those batches, on the kept copy of this version (_version_keep);
    the dataset gets a copy of each as its next version, to be edited. Returns {case id: its copy's id},
    empty when no batch ran on the cases, which are then edited in place.
    """
    locked = Dataset.objects.select_for_update().get(pk=dataset.pk)  # as cases_add: one change at a time
    if locked.version_of_id is not None:
        raise DatasetError(
            f"This is version {locked.version} of '{locked.name}', kept as it was; edit the dataset itself.",
            field="dataset",
            status=409,
        )
    if not dataset_runs(dataset=locked):
        return {}
    earlier = list(locked.cases.order_by("position"))
    _version_keep(locked)
    locked.version += 1
    copied = [f.attname for f in DatasetCase._meta.concrete_fields if not f.primary_key and f.name != "dataset"]
    copies = DatasetCase.objects.bulk_create(
        [DatasetCase(dataset_id=locked.pk, **{name: getattr(case, name) for name in copied}) for case in earlier],
        batch_size=2000,
    )
    locked.save(update_fields=["version", "updated_at"])
    dataset.version, dataset.updated_at = locked.version, locked.updated_at
    return {case.pk: copy.pk for case, copy in zip(earlier, copies, strict=True)}


def cases_import(*, dataset: Dataset, content: str | bytes, fmt: str, replace: bool = False) -> int:
    """Parse the file against the dataset's variables, then add its cases as the next version."""
    cases = cases_parse(content=content, fmt=fmt, variables=dataset_variables(dataset=dataset))
    return cases_add(dataset=dataset, cases=cases, replace=replace)


def _case_dict(case: DatasetCase) -> dict[str, Any]:
    return {
        "input": case.input,
        "expected_output": case.expected_output,
        "expected_fields": case.expected_fields or {},
        "tags": case.tags or [],
        **{key: getattr(case, key) for key in GROUNDING_KEYS if getattr(case, key)},
    }


def cases_export(*, dataset: Dataset, fmt: str) -> str:
    if fmt not in FORMATS:
        raise DatasetError(f"Unknown format '{fmt}'; use csv or jsonl.", field="format")
    cases = dataset.cases.order_by("position").iterator()
    if fmt == "jsonl":
        return "".join(json.dumps(_case_dict(case), ensure_ascii=False) + "\n" for case in cases)
    grounded = any(sources or facts for sources, facts in dataset.cases.values_list(*GROUNDING_KEYS).iterator())
    lines = [csv_line(CASE_KEYS + (GROUNDING_KEYS if grounded else ()))]
    for case in cases:
        grounding = ["\n".join(getattr(case, key) or []) for key in GROUNDING_KEYS] if grounded else []
        lines.append(
            csv_line(
                [
                    json.dumps(case.input, ensure_ascii=False),
                    case.expected_output,
                    json.dumps(case.expected_fields or {}, ensure_ascii=False),
                    ",".join(case.tags or []),
                    *grounding,
                ]
            )
        )
    return "".join(lines)
