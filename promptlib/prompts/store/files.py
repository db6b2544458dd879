"""The file format's keys, the parsed file, and the errors that list what is wrong with files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from promptlib.prompts.content import SECTIONS, VersionContent

SLUG_RE = re.compile(r"[-a-zA-Z0-9_]+")
VARIABLE_KEYS = ("name", "type", "required", "default", "description")
EXAMPLE_KEYS = ("input", "output")
# The order keys are written in: who it is, how it runs, what it takes, what it says.
TOP_KEYS = (
    "slug", "title", "description", "tags", "labels", "model_settings", "retrieval", "variables", *SECTIONS, "examples",
)  # fmt: skip
FILE_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class StoreProblem:
    path: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}" if self.field else f"{self.path}: {self.message}"


class TemplateStoreError(Exception):
    """One or more files are unusable; nothing was imported."""

    def __init__(self, problems: list[StoreProblem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class TemplateFile:
    path: str
    slug: str
    title: str
    description: str
    tags: list[str]
    labels: list[str]
    content: VersionContent


def display_path(path: Path) -> str:
    """A path as the user typed it: relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
