"""Errors for bad templates and variables. Each names the field it concerns and carries a stable code.

They live apart from the sandbox so that the render limits can raise them without importing Jinja;
callers import them from promptlib.prompts.rendering as before.
"""

from __future__ import annotations

from promptlib.core.errors import DomainError


class PromptError(DomainError):
    """A problem with a template or its variables, with the field it concerns and a stable code."""


class VariableError(PromptError):
    code = "invalid_variable"


class TemplateSyntaxProblem(PromptError):  # noqa: N818 - public names callers already use
    code = "syntax_error"


class UndeclaredVariableError(PromptError):
    code = "undeclared_variable"


class RenderLimitExceeded(PromptError):  # noqa: N818 - public names callers already use
    code = "render_limit"


class SandboxViolation(PromptError):  # noqa: N818 - public names callers already use
    code = "forbidden"


class TemplateTooDeep(PromptError):  # noqa: N818 - named like its siblings
    """Nested deeper than Jinja's parser or Python's compiler can take."""

    code = "too_deep"


class NotPrintable(PromptError):  # noqa: N818 - named like its siblings
    """A function, method or class put where text is expected."""

    code = "not_printable"


class PromptErrors(PromptError):  # noqa: N818 - public names callers already use
    """Several problems found at once (validation reports them all)."""

    def __init__(self, errors: list[PromptError]):
        super().__init__(
            "; ".join(e.message for e in errors), field=errors[0].field, code=errors[0].code, errors=errors
        )
