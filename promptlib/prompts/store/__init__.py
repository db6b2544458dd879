"""Prompts as code: templates_store/ YAML files ⇄ a project's templates.

A file holds one template's CURRENT content (its latest version) and the names of the labels that
point at that content. Version numbers and history stay in the database: numbers differ between
environments, so writing them down would make export → import → export differ. Labels pointing at
older versions are environment state (a rollback, a canary); export reports them and leaves them out.
Import never removes a label: a file only says which labels should serve its content.

  files.py      the format's keys, TemplateFile, StoreProblem and TemplateStoreError
  reading.py    parsing and checking files (template_file_parse, template_files_read)
  importing.py  templates_import, templates_store_import
  exporting.py  template_file_dump, templates_store_export
"""

from promptlib.prompts.store.exporting import ExportSummary, template_file_dump, templates_store_export
from promptlib.prompts.store.files import StoreProblem, TemplateFile, TemplateStoreError, display_path
from promptlib.prompts.store.importing import ImportSummary, templates_import, templates_store_import
from promptlib.prompts.store.reading import template_file_parse, template_files_read

__all__ = [
    "ExportSummary",
    "ImportSummary",
    "StoreProblem",
    "TemplateFile",
    "TemplateStoreError",
    "display_path",
    "template_file_dump",
    "template_file_parse",
    "template_files_read",
    "templates_import",
    "templates_store_export",
    "templates_store_import",
]
