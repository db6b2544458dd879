"""Checks made when a version is saved: declarations, syntax, names used and the output schema.

This is the first of two layers that refuse escapes: it rejects undeclared names, underscore
attributes and include/import/extends, and the sandbox refuses them again at render time.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes

from promptlib.prompts.content import (
    KNOWLEDGE_VARIABLE,
    RETRIEVAL_MODES,
    RETRIEVAL_TOP_K_MAX,
    SECTIONS,
    VersionContent,
)
from promptlib.prompts.rendering.errors import (
    PromptError,
    PromptErrors,
    SandboxViolation,
    TemplateSyntaxProblem,
    UndeclaredVariableError,
    VariableError,
)
from promptlib.prompts.rendering.limits import MAX_NESTING
from promptlib.prompts.rendering.sandbox import GLOBAL_NAMES, compile_guard, compile_section, parse_section
from promptlib.prompts.rendering.variables import VARIABLE_TYPES, type_problem

# A str.format field that walks into an attribute or item starting with an underscore.
_FORMAT_FIELD_UNDERSCORE = re.compile(r"\{[^{}]*[.\[]_")


def _template_fields(content: VersionContent) -> list[tuple[str, str]]:
    fields = [(name, getattr(content, name)) for name in SECTIONS]
    for index, example in enumerate(content.examples):
        fields.append((f"examples[{index}].input", example.get("input", "")))
        fields.append((f"examples[{index}].output", example.get("output", "")))
    return [(name, source) for name, source in fields if source]


def validate_declarations(variables: list[dict[str, Any]]) -> list[PromptError]:
    errors: list[PromptError] = []
    seen: set[str] = set()
    for index, var in enumerate(variables):
        name = var.get("name", "")
        where = f"variables[{index}]"
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name or ""):
            errors.append(VariableError(f"Variable name {name!r} is not a valid identifier.", field=where))
            continue
        if name in seen:
            errors.append(VariableError(f"Variable '{name}' is declared twice.", field=where))
        seen.add(name)
        if var.get("type", "string") not in VARIABLE_TYPES:
            errors.append(
                VariableError(
                    f"Variable '{name}' has unknown type {var.get('type')!r}; use one of {', '.join(VARIABLE_TYPES)}.",
                    field=where,
                )
            )
        elif _nested_deeper_than(var.get("default"), MAX_NESTING):
            errors.append(_too_deep(f"The default of '{name}'", where))
        elif var.get("default") is not None:
            problem = type_problem(var["type"], var["default"])
            if problem:
                errors.append(VariableError(f"Default of '{name}' {problem}.", field=where))
    return errors


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and objects nest more than limit levels deep (walked without recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list | tuple) else ()
        if children and depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _too_deep(what: str, field: str) -> PromptError:
    return PromptError(f"{what} nests more than {MAX_NESTING} levels deep.", field=field, code="too_deep")


def _private_access(ast: nodes.Template) -> list[str]:
    """Names of underscore attributes a template reaches for: refused at save, before the sandbox sees them."""
    found = [node.attr for node in ast.find_all(nodes.Getattr) if node.attr.startswith("_")]
    for node in ast.find_all(nodes.Getitem):
        if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str) and node.arg.value.startswith("_"):
            found.append(node.arg.value)
    for node in ast.find_all(nodes.Filter):
        values = list(node.args) + [kw.value for kw in node.kwargs]
        for arg in values:
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str) and arg.value.startswith("_"):
                found.append(arg.value)
    for node in ast.find_all(nodes.Const):
        if isinstance(node.value, str) and _FORMAT_FIELD_UNDERSCORE.search(node.value):
            found.append(node.value)
    return found


def validate_content(content: VersionContent) -> None:
    """Check syntax, declared variables and the output schema; raise PromptErrors listing every problem."""
    errors = validate_declarations(content.variables)
    declared = {v.get("name") for v in content.variables}
    if content.retrieval is not None:
        errors.extend(_retrieval_problems(content.retrieval, declared))
        # The query is rendered from the caller's variables only; the sections may use the results.
        errors.extend(_names_problems("retrieval.query", content.retrieval.get("query") or "", declared))
        declared = declared | {KNOWLEDGE_VARIABLE}
    for field_name, source in _template_fields(content):
        errors.extend(_names_problems(field_name, source, declared))
    if content.output_schema is not None:
        if _nested_deeper_than(content.output_schema, MAX_NESTING):
            errors.append(_too_deep("The output schema", "output_schema"))
        else:
            errors.extend(_schema_problems(content.output_schema))
    if errors:
        raise PromptErrors(errors)


def _retrieval_problems(block: dict[str, Any], declared: set) -> list[PromptError]:
    """The retrieval block's own fields (whether the knowledge base exists is checked when saving)."""

    def problem(name: str, message: str) -> PromptError:
        return PromptError(message, field=f"retrieval.{name}", code="invalid_retrieval")

    errors = []
    if not block.get("knowledge_base") or not isinstance(block["knowledge_base"], str):
        errors.append(problem("knowledge_base", "Choose the knowledge base to search."))
    snapshot = block.get("snapshot")
    if snapshot is not None and (not isinstance(snapshot, int) or isinstance(snapshot, bool) or snapshot < 1):
        errors.append(problem("snapshot", "A pinned snapshot is a snapshot number: 1, 2, 3…"))
    if not (block.get("query") or "").strip():
        errors.append(problem("query", "Write what to search for, e.g. {{ question }}."))
    top_k = block.get("top_k")
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= RETRIEVAL_TOP_K_MAX:
        errors.append(problem("top_k", f"The number of passages is a whole number from 1 to {RETRIEVAL_TOP_K_MAX}."))
    if block.get("mode") not in RETRIEVAL_MODES:
        errors.append(problem("mode", f"The search mode is one of {', '.join(RETRIEVAL_MODES)}."))
    tags = block.get("tags")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        errors.append(problem("tags", "Tags are a list of short words."))
    min_score = block.get("min_score")
    if min_score is not None and (not isinstance(min_score, int | float) or isinstance(min_score, bool)):
        errors.append(problem("min_score", "The minimum score is a number."))
    if KNOWLEDGE_VARIABLE in declared:
        errors.append(
            VariableError(
                f"The variable '{KNOWLEDGE_VARIABLE}' holds the retrieved passages; give your variable another name.",
                field="variables",
            )
        )
    return errors


def _names_problems(field_name: str, source: str, declared: set) -> list[PromptError]:
    """Syntax, private attributes and undeclared names of one Jinja field."""
    errors: list[PromptError] = []
    if not source:
        return errors
    try:
        ast = parse_section(source, field_name)
        compile_section(source, field_name)  # unknown filters and tests only show up when compiling
        with compile_guard(field_name):  # these walk the tree recursively too
            private = list(dict.fromkeys(_private_access(ast)))
            used = meta.find_undeclared_variables(ast) - GLOBAL_NAMES
    except TemplateSyntaxError as exc:
        errors.append(
            TemplateSyntaxProblem(f"Syntax error in {field_name} on line {exc.lineno}: {exc.message}", field=field_name)
        )
        return errors
    except PromptError as exc:
        exc.field = field_name
        if not exc.message.startswith(field_name):
            exc.message = f"{field_name}: {exc.message}"
        errors.append(exc)
        return errors
    for name in private:
        errors.append(SandboxViolation(f"{field_name} uses '{name}', which prompts may not use.", field=field_name))
    for name in sorted(used - declared):
        errors.append(
            UndeclaredVariableError(
                f"{field_name} uses the variable '{name}', which is not declared. Declare it or remove it.",
                field=field_name,
            )
        )
    return errors


def _schema_problems(schema: Any) -> list[PromptError]:
    import jsonschema  # local: only needed when a schema is declared

    if not isinstance(schema, dict):
        return [PromptError("The output schema must be a JSON object.", field="output_schema", code="invalid_schema")]
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return [
            PromptError(
                f"The output schema is not valid JSON Schema: {exc.message}",
                field="output_schema",
                code="invalid_schema",
            )
        ]
    return []
