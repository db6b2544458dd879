"""Every CSV the app writes goes through here, so no cell is run as a spreadsheet formula.

Excel, LibreOffice and Google Sheets run a cell starting with =, +, -, @, a tab or a carriage
return as a formula (`=HYPERLINK(…)`, `+cmd|…`, `@SUM(…)`: OWASP's "CSV injection"). Such text cells
get a leading apostrophe, which spreadsheets show as text and hide. Numbers such as -5 stay as they
are. `csv_unsafe` undoes the prefix, so a dataset exported as CSV imports back unchanged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _looks_like_formula(text: str) -> bool:
    # Apostrophes are looked through, so that text which already starts with one round-trips too.
    return text.lstrip("'")[:1] in FORMULA_STARTS and not _is_number(text)


def csv_safe(value) -> str:
    """The cell's text, prefixed with ' when a spreadsheet would run it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text and _looks_like_formula(text) else text


def csv_unsafe(text: str) -> str:
    """The text csv_safe was given: its prefix removed (an import of what the app exported)."""
    return text[1:] if text[:1] == "'" and _looks_like_formula(text[1:]) else text


def csv_line(values: Iterable) -> str:
    """One CSV row, every cell made safe, ending in CRLF as the csv module writes it."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([csv_safe(v) for v in values])
    return buffer.getvalue()
