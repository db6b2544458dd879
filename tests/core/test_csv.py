"""The one CSV helper: formulas neutralised, numbers kept, the prefix undone on import."""

import pytest

from promptlib.core.csv import csv_line, csv_safe, csv_unsafe


@pytest.mark.parametrize(
    "text", ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "\t=1", "\r=1"]
)
def test_a_formula_gets_an_apostrophe(text):
    assert csv_safe(text) == "'" + text


@pytest.mark.parametrize("value", [-5, "-5", "+1.5", "-1e3", "plain", "", None, 3])
def test_numbers_and_plain_text_stay_as_they_are(value):
    assert csv_safe(value) == ("" if value is None else str(value))


@pytest.mark.parametrize("text", ["=1", "'=1", "''=1", "'plain", "'", "-5", "'-5x", "plain"])
def test_unsafe_undoes_safe(text):
    assert csv_unsafe(csv_safe(text)) == text


def test_a_line_neutralises_every_cell():
    assert csv_line(["=1", "ok", -2]) == "'=1,ok,-2\r\n"
