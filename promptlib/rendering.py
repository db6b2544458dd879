"""Rendering of template versions: the only module in promptlib that imports Jinja2.

Templates run in Jinja2's immutable sandbox with StrictUndefined and autoescape off (prompts are
not HTML). Every render is bounded in time and size: loops, calls and attribute lookups check a
deadline, and operators and filters that can multiply a string refuse to build more than the cap.

Layout of the rendered messages (deterministic; empty sections leave no heading):
  system    = role, then "## Constraints" + constraints, then "## Output format" + format
  examples  = each few-shot example as a user message (input) and an assistant message (output)
  user      = "## Context" + context, then "## Task" + task
The flat text joins the same parts: system, then each example as "Example input:" / "Example
output:", then the user part, separated by blank lines.
"""

from __future__ import annotations

import hashlib
import operator
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes, pass_context
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from promptlib.content import SECTIONS, VersionContent

VARIABLE_TYPES = ("string", "number", "integer", "boolean", "list", "object")
# Names offered to templates besides the declared variables.
TEMPLATE_GLOBALS = ("range", "dict", "namespace")
_FORMAT_WIDTH = re.compile(r"\d{5,}")
_GUARD_FILTER = "promptlib_loop_guard"


# --- errors ----------------------------------------------------------------------------------


class PromptError(Exception):
    """A problem with a template or its variables, with the field it concerns and a stable code."""

    code = "invalid"

    def __init__(self, message: str, *, field: str = "", code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


class VariableError(PromptError):
    code = "invalid_variable"


class TemplateSyntaxProblem(PromptError):
    code = "syntax_error"


class UndeclaredVariableError(PromptError):
    code = "undeclared_variable"


class RenderLimitExceeded(PromptError):
    code = "render_limit"


class SandboxViolation(PromptError):
    code = "forbidden"


class PromptErrors(PromptError):
    """Several problems found at once (validation reports them all)."""

    def __init__(self, errors: list[PromptError]):
        super().__init__("; ".join(e.message for e in errors), field=errors[0].field, code=errors[0].code)
        self.errors = errors


# --- the bounded sandbox ---------------------------------------------------------------------


class _Budget(threading.local):
    deadline: float = 0.0
    max_chars: int = 0


_budget = _Budget()


def _check_deadline() -> None:
    if _budget.deadline and time.monotonic() > _budget.deadline:
        raise RenderLimitExceeded(
            f"Rendering took longer than {settings.PROMPTLIB_RENDER_TIMEOUT_SECONDS:g} s and was stopped.",
            code="render_timeout",
        )


def _max_chars() -> int:
    return _budget.max_chars or settings.PROMPTLIB_RENDER_MAX_OUTPUT_CHARS


def _check_size(value: Any) -> Any:
    if isinstance(value, str | list | tuple | bytes) and len(value) > _max_chars():
        raise RenderLimitExceeded(
            f"Rendering would produce more than {_max_chars()} characters and was stopped.",
            code="output_too_large",
        )
    return value


def _guard_iter(iterable: Any):
    # Wrapped around every {% for %} so that nested loops cannot spin past the deadline.
    for count, item in enumerate(iterable):
        if count % 64 == 0:
            _check_deadline()
        yield item


def _guarded_filter(func):
    skip = 2 if hasattr(func, "jinja_pass_arg") else 1  # the context (if any) and the filtered value

    def wrapper(*args, **kwargs):
        _check_deadline()
        for value in list(args[skip:]) + list(kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _max_chars():
                raise RenderLimitExceeded(
                    f"A filter argument of {value} exceeds the output cap.", code="output_too_large"
                )
        if args[skip - 1 : skip] and isinstance(args[skip - 1], str) and "%" in args[skip - 1]:
            if _FORMAT_WIDTH.search(args[skip - 1]):
                raise RenderLimitExceeded("Format widths that large are not allowed.", code="output_too_large")
        return _check_size(func(*args, **kwargs))

    if hasattr(func, "jinja_pass_arg"):
        wrapper.jinja_pass_arg = func.jinja_pass_arg
    return wrapper


@pass_context
def _guard_loop(_context, iterable: Any):
    # Wrapped around every {% for %} so that nested loops cannot spin past the deadline. It takes
    # the context only so that Jinja never tries to evaluate it at compile time.
    return _guard_iter(iterable)


class _BoundedCodeGenerator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame) -> None:
        # `a ~ b` is not an intercepted operator in Jinja; route it through a size check.
        self.write("environment.checked_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _PromptEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%", "//"})

    def __init__(self):
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False, cache_size=0)
        # cycler, joiner and lipsum are classic escape gadgets and useless in prompts.
        self.globals = {name: self.globals[name] for name in TEMPLATE_GLOBALS if name in self.globals}
        self.filters = {name: _guarded_filter(func) for name, func in self.filters.items()}
        self.filters[_GUARD_FILTER] = _guard_loop
        self.binop_table.setdefault("//", operator.floordiv)

    def _parse(self, source, name, filename):
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, _GUARD_FILTER, [], [], None, None)
        return tree

    def checked_concat(self, parts) -> str:
        _check_deadline()
        return _check_size("".join(str(p) for p in parts))

    def call_binop(self, context, op: str, left: Any, right: Any) -> Any:
        _check_deadline()
        if op == "**":
            if isinstance(right, int | float) and abs(right) > 4096:
                raise RenderLimitExceeded("Exponents above 4096 are not allowed.", code="output_too_large")
        elif op == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    if len(seq) * max(times, 0) > _max_chars():
                        raise RenderLimitExceeded(
                            f"Repeating a value {times} times exceeds the output cap.", code="output_too_large"
                        )
        elif op == "%" and isinstance(left, str) and _FORMAT_WIDTH.search(left):
            raise RenderLimitExceeded("Format widths that large are not allowed.", code="output_too_large")
        result = self.binop_table[op](left, right)
        return _check_size(result)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - mirrors Jinja's signature
        _check_deadline()
        name = getattr(__obj, "__name__", "")
        if name in ("format", "format_map") and isinstance(getattr(__obj, "__self__", None), str):
            if _FORMAT_WIDTH.search(__obj.__self__):
                raise RenderLimitExceeded("Format widths that large are not allowed.", code="output_too_large")
        return _check_size(super().call(__context, __obj, *args, **kwargs))

    def getattr(self, obj, attribute):
        _check_deadline()
        return super().getattr(obj, attribute)

    def getitem(self, obj, argument):
        _check_deadline()
        return super().getitem(obj, argument)


_env = _PromptEnvironment()
_cache: OrderedDict[str, Any] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 2048


def _compile(source: str, field_name: str):
    """Compile one section, cached in process by the hash of its source."""
    key = hashlib.sha256(source.encode()).hexdigest()
    with _cache_lock:
        compiled = _cache.get(key)
        if compiled is not None:
            _cache.move_to_end(key)
            return compiled
    try:
        compiled = _env.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateSyntaxProblem(
            f"Syntax error in {field_name} on line {exc.lineno}: {exc.message}", field=field_name
        ) from exc
    except PromptError as exc:  # constant folding can already hit a cap
        exc.field = field_name
        raise
    with _cache_lock:
        _cache[key] = compiled
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


# --- validation at save time -----------------------------------------------------------------


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
        elif var.get("default") is not None:
            problem = _type_problem(var["type"], var["default"])
            if problem:
                errors.append(VariableError(f"Default of '{name}' {problem}.", field=where))
    return errors


def validate_content(content: VersionContent) -> None:
    """Check syntax, declared variables and the output schema; raise PromptErrors listing every problem."""
    errors = validate_declarations(content.variables)
    declared = {v.get("name") for v in content.variables}
    for field_name, source in _template_fields(content):
        try:
            ast = _env.parse(source)
        except TemplateSyntaxError as exc:
            errors.append(
                TemplateSyntaxProblem(
                    f"Syntax error in {field_name} on line {exc.lineno}: {exc.message}", field=field_name
                )
            )
            continue
        used = meta.find_undeclared_variables(ast) - set(_env.globals)
        for name in sorted(used - declared):
            errors.append(
                UndeclaredVariableError(
                    f"{field_name} uses the variable '{name}', which is not declared. Declare it or remove it.",
                    field=field_name,
                )
            )
    if content.output_schema is not None:
        errors.extend(_schema_problems(content.output_schema))
    if errors:
        raise PromptErrors(errors)


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


# --- variables -------------------------------------------------------------------------------


def _type_problem(expected: str, value: Any) -> str:
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
            problem = _type_problem(kind, given[name])
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


# --- rendering -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedPrompt:
    messages: list[dict[str, str]]
    text: str
    variables: dict[str, Any] = field(default_factory=dict)


def _render_one(source: str, field_name: str, variables: dict[str, Any]) -> str:
    if not source:
        return ""
    compiled = _compile(source, field_name)
    chunks: list[str] = []
    size = 0
    try:
        for chunk in compiled.generate(variables):
            size += len(chunk)
            if size > _max_chars():
                raise RenderLimitExceeded(
                    f"Rendering {field_name} produced more than {_max_chars()} characters and was stopped.",
                    field=field_name,
                    code="output_too_large",
                )
            _check_deadline()
            chunks.append(chunk)
    except PromptError as exc:
        exc.field = exc.field or field_name
        raise
    except SecurityError as exc:
        raise SandboxViolation(f"{field_name} tried something the sandbox forbids: {exc}", field=field_name) from exc
    except UndefinedError as exc:
        raise VariableError(f"{field_name}: {exc.message}", field=field_name, code="undefined") from exc
    except RecursionError as exc:
        raise RenderLimitExceeded(f"{field_name} recursed too deeply.", field=field_name) from exc
    except MemoryError as exc:
        raise RenderLimitExceeded(f"{field_name} needed too much memory.", field=field_name) from exc
    except TemplateError as exc:
        raise PromptError(f"{field_name}: {exc}", field=field_name, code="render_error") from exc
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        raise PromptError(f"{field_name}: {exc}", field=field_name, code="render_error") from exc
    return "".join(chunks).strip()


def _join(parts: list[tuple[str, str]]) -> str:
    """Join (heading, text) pairs, skipping empty texts so that no heading stands alone."""
    blocks = [f"{heading}\n{text}" if heading else text for heading, text in parts if text]
    return "\n\n".join(blocks)


def render(content: Any, variables: dict[str, Any] | None = None) -> RenderedPrompt:
    """Render a version (or VersionContent) with the caller's variables into chat messages and flat text."""
    if not isinstance(content, VersionContent):
        content = VersionContent.from_obj(content)
    resolved = resolve_variables(content.variables, variables)
    _budget.deadline = time.monotonic() + settings.PROMPTLIB_RENDER_TIMEOUT_SECONDS
    _budget.max_chars = settings.PROMPTLIB_RENDER_MAX_OUTPUT_CHARS
    try:
        out = {name: _render_one(getattr(content, name), name, resolved) for name in SECTIONS}
        examples = [
            (
                _render_one(ex.get("input", ""), f"examples[{i}].input", resolved),
                _render_one(ex.get("output", ""), f"examples[{i}].output", resolved),
            )
            for i, ex in enumerate(content.examples)
        ]
    finally:
        _budget.deadline = 0.0
    system = _join([("", out["role"]), ("## Constraints", out["constraints"]), ("## Output format", out["format"])])
    user = _join([("## Context", out["context"]), ("## Task", out["task"])])
    messages: list[dict[str, str]] = []
    if system:
        messages.append({"role": "system", "content": system})
    for example_in, example_out in examples:
        messages.append({"role": "user", "content": example_in})
        messages.append({"role": "assistant", "content": example_out})
    if user:
        messages.append({"role": "user", "content": user})
    text = _join(
        [("", system)]
        + [("", _join([("Example input:", i), ("Example output:", o)])) for i, o in examples]
        + [("", user)]
    )
    total = sum(len(m["content"]) for m in messages)
    if total > settings.PROMPTLIB_RENDER_MAX_OUTPUT_CHARS:
        raise RenderLimitExceeded(
            f"The rendered prompt has {total} characters, more than the cap of {settings.PROMPTLIB_RENDER_MAX_OUTPUT_CHARS}.",
            code="output_too_large",
        )
    return RenderedPrompt(messages=messages, text=text, variables=resolved)
