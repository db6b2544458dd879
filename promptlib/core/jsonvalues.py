"""What a JSON value must be for the database to store it, checked before it gets there.

PostgreSQL's jsonb refuses NUL characters and NaN/Infinity, no driver encodes a lone surrogate
("\\ud800") as UTF-8, bigint ends at 2**63-1, and Python's own json module raises RecursionError on
deep nesting: each would be a 500 after the fact, so API fields and dataset imports ask here first.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_INT = 2**31 - 1  # the database's integer (PositiveIntegerField: 0..MAX_INT)
MAX_BIGINT = 2**63 - 1
MAX_DEPTH = 32


def text_problem(text: str) -> str:
    """Why a string cannot be stored, or "" if it can."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains invalid Unicode (a lone surrogate)"
    return ""


def json_problem(value: Any, depth: int = 0) -> str:
    """Why a JSON value cannot be stored, or "" if it can."""
    if depth > MAX_DEPTH:
        return f"is nested more than {MAX_DEPTH} levels deep"
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, float):
        return "contains a number that is not finite" if not math.isfinite(value) else ""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_BIGINT:
        return "contains an integer too large to store"
    if isinstance(value, dict):
        for key, item in value.items():
            problem = json_problem(key, depth + 1) or json_problem(item, depth + 1)
            if problem:
                return problem
    if isinstance(value, list):
        for item in value:
            problem = json_problem(item, depth + 1)
            if problem:
                return problem
    return ""


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def json_parse_storable(text: str) -> Any:
    """Parse JSON text into a value the database stores; ValueError with a short reason otherwise."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # JSONDecodeError has .msg; int("1"*5000) does not
        raise ValueError(getattr(exc, "msg", None) or str(exc)) from None
    problem = json_problem(value)
    if problem:
        raise ValueError(f"the value {problem}")
    return value
