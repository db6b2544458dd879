"""The variables a template declares, and the values a caller gives for them."""

from __future__ import annotations

from typing import Any

from promptlib.prompts.rendering.errors import PromptError, PromptErrors, VariableError

VARIABLE_TYPES = ("string", "number", "integer", "boolean", "list", "object")


def type_problem(expected: str, value: Any) -> str:
    """Why value does not fit the declared type ("must be of type …"), or "" when it does."""
    checks = {
        "string": lambda v: isinstance(v, str),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "list": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    if checks[expected](value):
        return ""
    return f"must be of type {expected}, got {type(value).__name__}"


def resolve_variables(declared: list[dict[str, Any]], given: dict[str, Any] | None) -> dict[str, Any]:
    """Validate the caller's variables against the declaration and apply defaults."""
    given = given or {}
    if not isinstance(given, dict):
        raise VariableError("Variables must be a JSON object of name → value.", field="variables")
    errors: list[PromptError] = []
    names = {v["name"] for v in declared}
    for name in sorted(set(given) - names):
        errors.append(
            VariableError(
                f"Unknown variable '{name}': this template does not declare it.",
                field=f"variables.{name}",
                code="unknown_variable",
            )
        )
    resolved: dict[str, Any] = {}
    for var in declared:
        name, kind = var["name"], var.get("type", "string")
        if name in given and given[name] is not None:
            problem = type_problem(kind, given[name])
            if problem:
                errors.append(
                    VariableError(f"Variable '{name}' {problem}.", field=f"variables.{name}", code="wrong_type")
                )
            resolved[name] = given[name]
        elif var.get("default") is not None:
            resolved[name] = var["default"]
        elif var.get("required"):
            errors.append(
                VariableError(f"Variable '{name}' is required.", field=f"variables.{name}", code="missing_variable")
            )
        else:
            resolved[name] = None
    if errors:
        raise PromptErrors(errors)
    return resolved
