"""The expected fields a dataset's cases can fill: one admin box each, offered before any case has one.

An expected field is a field of the answer a case says what to expect in (`{"category": "billing"}`).
Its name comes from what the answers are checked against, not only from the cases so far:
- the fields the cases already use, in order of first use;
- the fields the "expected fields" checks are set to compare, in the experiments of the dataset's
  template and those whose batches (or schedules) ran on any version of this dataset;
- the output schema's properties (JSON schema; nested objects as `customer.tier`, as the check reads
  them, in alphabetical order) of the template's newest version and of those experiments' versions.
A schema property's type (number, whole number, yes/no) types its box, so "3" is compared as 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from promptlib.batches.models import Batch, BatchSchedule, Dataset, DatasetCase, ScorerConfig
from promptlib.experiments.models import Experiment, Variant
from promptlib.prompts.models import Version
from promptlib.prompts.selectors import version_latest

CASES_LOOKED_AT = 2000  # enough to see the fields a dataset's cases use
MAX_FIELDS = 30  # boxes on one row of the case table
SCHEMA_DEPTH = 3  # customer.address.city, not deeper
# A schema property's type → the box's kind (dataset_types.cell_value); anything else is text.
SCHEMA_KINDS = {"number": "number", "integer": "integer", "boolean": "boolean"}


@dataclass(frozen=True)
class ExpectedField:
    name: str
    kind: str = "string"  # how its box is read: "string", "number", "integer" or "boolean"


def _schema_fields(schema: Any, prefix: str = "", depth: int = 1) -> list[ExpectedField]:
    """The leaf properties of a JSON schema object, dotted through nested objects; lists are left out."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return []
    out: list[ExpectedField] = []
    for name, spec in sorted(schema["properties"].items()):  # PostgreSQL keeps no key order
        if not isinstance(name, str) or not name or not isinstance(spec, dict):
            continue
        kind = spec.get("type")
        if kind == "object" or (kind is None and isinstance(spec.get("properties"), dict)):
            if depth < SCHEMA_DEPTH:
                out.extend(_schema_fields(spec, f"{prefix}{name}.", depth + 1))
        elif kind != "array":  # a list cannot be typed in one box
            out.append(ExpectedField(f"{prefix}{name}", SCHEMA_KINDS.get(kind, "string")))
    return out


def _experiments(dataset: Dataset) -> Q:
    """The experiments this dataset is used with: its template's, and those that ran on any of its versions."""
    current_id = dataset.version_of_id or dataset.pk
    versions = Dataset.objects.filter(Q(pk=current_id) | Q(version_of_id=current_id)).values("pk")
    used = Q(pk__in=Batch.objects.filter(dataset__in=versions).values("experiment_id")) | Q(
        pk__in=BatchSchedule.objects.filter(dataset__in=versions).values("experiment_id")
    )
    return used | Q(template_id=dataset.template_id) if dataset.template_id else used


def dataset_expected_fields(*, dataset: Dataset) -> list[ExpectedField]:
    """The expected fields to offer on the dataset's cases: used, checked or in the output schema."""
    found: dict[str, ExpectedField] = {}

    def add(field: ExpectedField) -> None:
        if field.name not in found:
            found[field.name] = field
        elif found[field.name].kind == "string" and field.kind != "string":
            found[field.name] = field  # the schema says what type the check compares

    rows = DatasetCase.objects.filter(dataset=dataset).order_by("position").values_list("expected_fields", flat=True)
    for fields in rows[:CASES_LOOKED_AT]:
        for name in fields or {}:
            add(ExpectedField(name))
    experiments = Experiment.objects.filter(_experiments(dataset)).values("pk")
    checks = ScorerConfig.objects.filter(experiment__in=experiments, kind="expected_fields").order_by("pk")
    for config in checks.values_list("config", flat=True):
        for name in (config or {}).get("fields") or []:
            if isinstance(name, str) and name:
                add(ExpectedField(name))
    schemas = list(
        Version.objects.filter(pk__in=Variant.objects.filter(experiment__in=experiments).values("version_id"))
        .order_by("-pk")
        .values_list("output_schema", flat=True)
    )
    latest = version_latest(template=dataset.template) if dataset.template_id else None
    if latest is not None and latest.output_schema:
        schemas.insert(0, latest.output_schema)
    for schema in filter(None, schemas):
        for field in _schema_fields(schema):
            add(field)
    return list(found.values())[:MAX_FIELDS]
