"""Showing stored values to people: a case's inputs as "name: value" lines (never a Python dict), metrics with units."""

from __future__ import annotations

import json
from typing import Any


def value_text(value: Any) -> str:
    """Text as it is; anything else (numbers, lists, objects) as JSON, which reads like what was typed."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2 if isinstance(value, (dict, list)) else None)


def named_values(mapping: Any) -> list[tuple[str, str]]:
    """[(name, text)] for a dict of variables or expected fields; one unnamed row for anything else."""
    if isinstance(mapping, dict):
        return [(str(name), value_text(value)) for name, value in mapping.items()]
    if mapping in (None, "", [], {}):
        return []
    return [("", value_text(mapping))]


def metric_value_text(value: float | None, *, is_rate: bool, unit: str, other: str = ",.2f") -> str:
    """18.3% rather than 0.183; 15 ms; $0.0012; "—" when there is nothing to show; `other` formats the rest."""
    if value is None:
        return "—"
    if is_rate:
        return f"{value:.1%}"
    return {
        "ms": f"{value:,.0f} ms",
        "seconds": f"{value:,.1f} s",
        "USD": f"${value:,.4f}",
        "tokens": f"{value:,.0f}",
    }.get(unit, format(value, other))
