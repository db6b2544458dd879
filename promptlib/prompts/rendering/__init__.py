"""Rendering of template versions: the only package in promptlib that imports Jinja2.

  sandbox.py     the bounded Jinja2 sandbox: environment, loop guard, compile cache, one section's render
  limits.py      the time and size limits the sandbox checks (no Jinja)
  validation.py  checks made at save time (validate_content, validate_declarations)
  variables.py   declared variable types and resolve_variables
  layout.py      render: sections into chat messages and flat text (the layout is documented there)
  errors.py      PromptError and its kinds

Two layers refuse escapes: validate_content (at save) rejects undeclared names, underscore
attributes and include/import/extends; the sandbox refuses them again at render time.
Callers import from this package, not from its modules.
"""

from promptlib.prompts.rendering.errors import (
    NotPrintable,
    PromptError,
    PromptErrors,
    RenderLimitExceeded,
    SandboxViolation,
    TemplateSyntaxProblem,
    TemplateTooDeep,
    UndeclaredVariableError,
    VariableError,
)
from promptlib.prompts.rendering.layout import RenderedPrompt, render, retrieval_query
from promptlib.prompts.rendering.limits import MAX_NESTING
from promptlib.prompts.rendering.sandbox import TEMPLATE_GLOBALS
from promptlib.prompts.rendering.validation import validate_content, validate_declarations
from promptlib.prompts.rendering.variables import VARIABLE_TYPES, resolve_variables

__all__ = [
    "MAX_NESTING",
    "TEMPLATE_GLOBALS",
    "VARIABLE_TYPES",
    "NotPrintable",
    "PromptError",
    "PromptErrors",
    "RenderLimitExceeded",
    "RenderedPrompt",
    "SandboxViolation",
    "TemplateSyntaxProblem",
    "TemplateTooDeep",
    "UndeclaredVariableError",
    "VariableError",
    "render",
    "resolve_variables",
    "retrieval_query",
    "validate_content",
    "validate_declarations",
]
