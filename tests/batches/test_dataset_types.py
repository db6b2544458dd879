"""A stored value written as a cell reads back as the same value (the admin's boxes rely on it)."""

import pytest

from promptlib.batches.dataset_types import cell_text, cell_value


@pytest.mark.parametrize(
    ("kind", "value", "text"),
    [
        ("list", ["light", "cheap"], "light; cheap"),
        ("list", ["a;b", "c"], '["a;b", "c"]'),
        ("list", [], "[]"),
        ("boolean", False, "no"),
        ("number", 12.5, "12.5"),
        ("integer", 3, "3"),
        ("object", {"tier": "gold"}, '{"tier": "gold"}'),
        ("string", "[not a list]", "[not a list]"),
    ],
)
def test_a_value_written_as_a_cell_reads_back_the_same(kind, value, text):
    assert cell_text(kind, value) == text
    assert cell_value(kind, text) == value
