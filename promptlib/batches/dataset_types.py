"""A dataset's columns typed from the variables its template declares: cells in, typed values out.

A spreadsheet holds text, so each CSV cell becomes a value of its variable's declared type: a
whole number, a number, yes/no, a list written as JSON (["a", "b"]) or as words separated by `;`
(a; b), an object written as JSON. Every value, from CSV or JSONL, is then checked against the
declaration with the renderer's own rule (type_problem), so an import refuses what every call of a
batch would have failed on.
"""

from __future__ import annotations

import json
from typing import Any

from promptlib.core.jsonvalues import json_parse_storable
from promptlib.prompts.models import Template
from promptlib.prompts.rendering import VARIABLE_TYPES
from promptlib.prompts.rendering.variables import type_problem
from promptlib.prompts.selectors import version_latest

TRUE, FALSE = ("true", "yes", "y", "1", "on"), ("false", "no", "n", "0", "off")
# What a marketer reads for each type: in messages and on the import page.
HOW_TO_WRITE = {
    "string": "any text",
    "number": "a number, e.g. 4.5",
    "integer": "a whole number, e.g. 3",
    "boolean": "yes or no",
    "list": 'words separated by ";" (a; b; c), or a JSON list ["a", "b"]',
    "object": 'a JSON object, e.g. {"tier": "gold"}',
}


def variables_declared(*, template: Template | None, variables: list[dict] | None) -> list[dict[str, Any]]:
    """What a dataset's cases must fill: its own declaration, else its template's latest version's."""
    if variables:
        return variables
    latest = version_latest(template=template) if template is not None else None
    return list(latest.variables) if latest is not None else []


def variables_validate(variables: Any) -> list[dict[str, Any]]:
    """A dataset's own declaration, [{"name", "type"}, …]; ValueError says what is wrong."""
    if not isinstance(variables, list):
        raise ValueError("The variables must be a list of {name, type}.")
    cleaned, seen = [], set()
    for var in variables:
        name = var.get("name") if isinstance(var, dict) else None
        kind = (var.get("type") or "string") if isinstance(var, dict) else None
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{name!r} is not a variable name (letters, digits and _).")
        if kind not in VARIABLE_TYPES:
            raise ValueError(f"Variable '{name}' has unknown type {kind!r}; use one of {', '.join(VARIABLE_TYPES)}.")
        if name in seen:
            raise ValueError(f"Variable '{name}' is declared twice.")
        seen.add(name)
        cleaned.append({"name": name, "type": kind, "required": bool(var.get("required"))})
    return cleaned


def cell_value(kind: str, raw: str) -> Any:
    """One CSV cell as a value of `kind`; ValueError says how to write it."""
    text = raw.strip()
    if kind == "string":
        return raw
    if kind == "boolean":
        if text.lower() in TRUE + FALSE:
            return text.lower() in TRUE
    elif kind == "integer":
        try:
            return int(text)
        except ValueError:
            pass
    elif kind == "number":
        try:
            return float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:
            pass
    elif kind == "list" and not text.startswith("["):
        return [part.strip() for part in text.split(";") if part.strip()]
    else:  # a JSON list or object
        try:
            value = json_parse_storable(text)
        except ValueError as exc:
            raise ValueError(f"{text[:40]!r} is not valid JSON ({exc}); write {HOW_TO_WRITE[kind]}.") from exc
        if not type_problem(kind, value):
            return value
    raise ValueError(f"{text[:40]!r} is not {HOW_TO_WRITE[kind]}.")


def cell_text(kind: str, value: Any) -> str:
    """A stored value written as its cell: cell_value(kind, cell_text(kind, v)) gives v back."""
    if value is None:
        return ""
    if kind == "boolean" and isinstance(value, bool):
        return "yes" if value else "no"
    if kind == "list" and value and all(isinstance(v, str) and v == v.strip() and v and ";" not in v for v in value):
        return "; ".join(value)
    if isinstance(value, str) and (kind == "string" or not value.strip().startswith(("[", "{"))):
        return value
    return json.dumps(value, ensure_ascii=False)


def input_problems(declared: list[dict[str, Any]], given: dict[str, Any]) -> list[tuple[str, str]]:
    """(variable, problem) for each value that does not fit the declaration, and each missing one."""
    problems = []
    names = {var["name"] for var in declared}
    for name in sorted(set(given) - names):
        problems.append((name, f"'{name}' is not a variable of this prompt (it has {', '.join(sorted(names))})."))
    for var in declared:
        name, kind = var["name"], var.get("type", "string")
        value = given.get(name)
        if value is None:
            if var.get("required") and var.get("default") is None:
                problems.append((name, f"'{name}' is required and empty."))
            continue
        problem = type_problem(kind, value)
        if problem:
            shown = json.dumps(value, ensure_ascii=False)[:40]
            problems.append((name, f"'{name}' {problem} ({shown}); write {HOW_TO_WRITE[kind]}."))
    return problems
