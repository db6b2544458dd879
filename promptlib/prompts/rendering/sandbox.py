"""The bounded Jinja2 sandbox that every prompt section is compiled and rendered in.

Templates run in Jinja2's immutable sandbox with StrictUndefined and autoescape off (prompts are
not HTML). Every render is bounded in time and size: loops, calls, buffers and attribute lookups
check a deadline, and every operator, filter, method call, str.format field and {{ output }} is
sized before it runs (see limits.py). Unsafe attributes raise at once; functions and classes are
refused where they would be printed. A section nested too deeply for Jinja's parser or Python's
compiler is refused before it is parsed (check_nesting), and whatever the compiler still gives up
on becomes a TemplateTooDeep. Compiled sections are cached in process by the hash of their source.
"""

from __future__ import annotations

import hashlib
import operator
import re
import threading
import types
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from functools import update_wrapper, wraps
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, nodes, pass_context
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import Namespace
from markupsafe import EscapeFormatter, Markup

from promptlib.prompts.rendering.errors import (
    NotPrintable,
    PromptError,
    RenderLimitExceeded,
    SandboxViolation,
    TemplateSyntaxProblem,
    TemplateTooDeep,
    VariableError,
)
from promptlib.prompts.rendering.limits import (
    CONTAINER_ITEMS,
    MATERIALIZED_FILTERS,
    PRINTABLE_CALLABLES,
    charge,
    check_binop,
    check_deadline,
    check_filter,
    check_format_spec,
    check_method_call,
    check_result,
    check_weight,
    materialize,
    max_chars,
)

# Names offered to templates besides the declared variables.
TEMPLATE_GLOBALS = ("range", "dict", "namespace")
_GUARD_FILTER = "promptlib_loop_guard"
# A prompt is one self-contained text: there is no loader, and these tags would only reach for one.
_FORBIDDEN_TAGS = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)
# Names Jinja resolves by itself; `self` hands out the template's internals.
_FORBIDDEN_NAMES = frozenset({"self"})
# Pulls the offending name out of Jinja's SecurityError message, to show it to the author.
_QUOTED = re.compile(r"'([^']{1,80})'")
# Far below where Jinja's parser runs out of stack (~60 nested brackets) or Python's compiler
# refuses the generated code (20 nested loops, 100 levels of indentation); prompts need a few.
MAX_BLOCK_DEPTH = 12
MAX_BRACKET_DEPTH = 24
# Tags that open a block closed by an {% end… %} tag ({% set %} only without "=").
_BLOCK_TAGS = frozenset({"for", "if", "macro", "call", "filter", "with", "block", "autoescape", "trans"})
_OPENING, _CLOSING = frozenset("([{"), frozenset(")]}")

CONTAINER_ITEMS[Namespace] = lambda ns: [
    x for pair in object.__getattribute__(ns, "_Namespace__attrs").items() for x in pair
]
PRINTABLE_CALLABLES.append(Undefined)


def _guarded_filter(name: str, func):
    skip = 1 if getattr(func, "jinja_pass_arg", None) else 0  # the context (if any) comes first

    @wraps(func)  # also copies jinja_pass_arg
    def wrapper(*args, **kwargs):
        args = list(args)
        if name in MATERIALIZED_FILTERS:
            args[skip] = materialize(args[skip])
        check_filter(name, args[skip], tuple(args[skip + 1 :]), kwargs)
        return check_result(func(*args, **kwargs), f"The {name} filter")

    return wrapper


@pass_context
def _guard_loop(_context, iterable: Any):
    # Wrapped around every {% for %} so that nested loops cannot spin past the deadline. It takes
    # the context only so that Jinja never tries to evaluate it at compile time.
    for count, item in enumerate(iterable):
        if count % 64 == 0:
            check_deadline()
        yield item


def _finalize(value: Any) -> Any:
    # Every {{ expression }} passes here before str(): refuse values that would print too large.
    check_weight(value, "This output")
    return value


class _BoundedBuffer(list):
    """Collects the output of macros, loops in macros, {% set %}/{% filter %}/{% call %} blocks."""

    def append(self, item: Any) -> None:
        check_deadline()
        charge(len(item) if isinstance(item, str) else 0)
        super().append(item)

    def extend(self, items: Any) -> None:
        items = tuple(items)
        check_deadline()
        charge(sum(len(item) for item in items if isinstance(item, str)))
        super().extend(items)


def _checked_literal(visit):
    # A [ ]/( )/{ } literal can hold the same big value twice; nest that thirty times and one
    # comparison or hash walks a billion items. Each literal is weighed as it is built.
    def visitor(self, node, frame) -> None:
        if getattr(node, "ctx", "load") != "load":  # an assignment target: `{% set a, b = … %}`
            return visit(self, node, frame)
        self.write("environment.checked_literal(")
        visit(self, node, frame)
        self.write(")")

    return visitor


class _BoundedCodeGenerator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame) -> None:  # noqa: N802 - Jinja's visitor name
        # `a ~ b` is not an intercepted operator in Jinja; route it through a size check.
        self.write("environment.checked_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    visit_List = _checked_literal(CodeGenerator.visit_List)  # noqa: N815 - Jinja's visitor names
    visit_Tuple = _checked_literal(CodeGenerator.visit_Tuple)  # noqa: N815
    visit_Dict = _checked_literal(CodeGenerator.visit_Dict)  # noqa: N815

    def buffer(self, frame) -> None:
        # Buffered output is joined without Jinja looking at its size; count it as it is written.
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.new_buffer()")


class _BoundedFormatter(SandboxedFormatter):
    """str.format / format_map: every field is sized before it is formatted."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        check_format_spec(format_spec, value)
        return check_result(super().format_field(value, format_spec), "This format string")

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        check_weight(value, "This format field")
        return super().convert_field(value, conversion)


class _BoundedEscapeFormatter(_BoundedFormatter, EscapeFormatter):
    pass


class _PromptEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "-", "%", "//"})

    def __init__(self):
        super().__init__(
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            cache_size=0,
            finalize=_finalize,
        )
        # cycler, joiner and lipsum are classic escape gadgets and useless in prompts.
        self.globals = {name: self.globals[name] for name in TEMPLATE_GLOBALS if name in self.globals}
        self.filters = {name: _guarded_filter(name, func) for name, func in self.filters.items()}
        self.filters[_GUARD_FILTER] = _guard_loop
        self.binop_table.setdefault("//", operator.floordiv)
        self.binop_table.setdefault("-", operator.sub)

    def _parse(self, source, name, filename):
        tree = super()._parse(source, name, filename)
        for node in tree.find_all(_FORBIDDEN_TAGS):
            raise SandboxViolation(
                f"Line {node.lineno}: prompts cannot extend, include or import other templates.", code="forbidden"
            )
        for node in tree.find_all(nodes.Name):
            if node.name in _FORBIDDEN_NAMES:
                raise SandboxViolation(f"Line {node.lineno}: '{node.name}' is not available in prompts.")
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, _GUARD_FILTER, [], [], None, None)
        return tree

    @staticmethod
    def new_buffer() -> _BoundedBuffer:
        return _BoundedBuffer()

    @staticmethod
    def checked_literal(value: Any) -> Any:
        return check_result(value, "This list or object")

    def checked_concat(self, parts) -> str:
        for part in parts:
            check_weight(part, "Joining these values with ~")
        return check_result("".join(str(p) for p in parts), "Joining these values with ~")

    def call_binop(self, context, op: str, left: Any, right: Any) -> Any:
        check_binop(op, left, right)
        return check_result(self.binop_table[op](left, right), "This expression")

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - mirrors Jinja's signature
        args = check_method_call(__obj, args, kwargs)
        return check_result(super().call(__context, __obj, *args, **kwargs), "This call")

    def getattr(self, obj, attribute):
        check_deadline()
        return super().getattr(obj, attribute)

    def getitem(self, obj, argument):
        check_deadline()
        return super().getitem(obj, argument)

    def unsafe_undefined(self, obj: Any, attribute: str):
        # Fail at once rather than hand back an Undefined that `is defined` could probe quietly.
        raise SecurityError(f"access to attribute '{attribute}' is not allowed")

    def wrap_str_format(self, value: Any):
        # As Jinja's own, but with a formatter that sizes every field before formatting it.
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) or value.__name__ not in (
            "format",
            "format_map",
        ):
            return None
        f_self = value.__self__
        if not isinstance(f_self, str):
            return None
        is_format_map = value.__name__ == "format_map"
        if isinstance(f_self, Markup):
            formatter: SandboxedFormatter = _BoundedEscapeFormatter(self, escape=f_self.escape)
        else:
            formatter = _BoundedFormatter(self)

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            return type(f_self)(formatter.vformat(f_self, args, kwargs))

        return update_wrapper(wrapper, value)


_env = _PromptEnvironment()
_cache: OrderedDict[str, Any] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 2048

# What a template may use without declaring it.
GLOBAL_NAMES = frozenset(_env.globals)


def check_nesting(source: str, field_name: str) -> None:
    """Refuse blocks or brackets nested too deeply, from the tokens alone (Jinja's lexer does not recurse).

    Syntax errors are left to the parser, which reports them with their line.
    """
    blocks = brackets = 0
    tag: str | None = None  # the tag of the {% … %} being read; "" until its name is seen
    assigns = False
    try:
        for lineno, kind, value in _env.lex(source):
            if kind == "block_begin":
                tag, assigns = "", False
            elif kind == "name" and tag == "":
                tag = value
                blocks = max(blocks + (value in _BLOCK_TAGS) - value.startswith("end"), 0)
            elif kind == "block_end":
                blocks += tag == "set" and not assigns  # {% set x %}…{% endset %}
                tag = None
            elif kind == "operator":
                assigns = assigns or value == "="
                brackets += (value in _OPENING) - (value in _CLOSING)
            if blocks > MAX_BLOCK_DEPTH or brackets > MAX_BRACKET_DEPTH:
                what = f"{MAX_BLOCK_DEPTH} blocks" if blocks > MAX_BLOCK_DEPTH else f"{MAX_BRACKET_DEPTH} brackets"
                raise TemplateTooDeep(
                    f"{field_name} nests more than {what} inside each other (line {lineno}); "
                    "split it into simpler parts.",
                    field=field_name,
                )
    except TemplateSyntaxError:
        return


@contextmanager
def compile_guard(field_name: str) -> Iterator[None]:
    """Turn what Jinja's parser or Python's compiler raise on a huge or deep section into a TemplateTooDeep.

    check_nesting catches the usual cases first; this is for the rest (a chain of 10,000 filters).
    """
    try:
        yield
    except (RecursionError, MemoryError, SyntaxError, OverflowError) as exc:  # IndentationError is a SyntaxError
        raise TemplateTooDeep(
            f"{field_name} is nested too deeply or is too long to compile; split it into simpler parts.",
            field=field_name,
        ) from exc


def parse_section(source: str, field_name: str) -> nodes.Template:
    """The syntax tree of one section, for the checks made at save time; raises TemplateSyntaxError."""
    check_nesting(source, field_name)
    with compile_guard(field_name):
        return _env.parse(source)


def compile_section(source: str, field_name: str):
    """Compile one section, cached in process by the hash of its source."""
    key = hashlib.sha256(source.encode()).hexdigest()
    with _cache_lock:
        compiled = _cache.get(key)
        if compiled is not None:
            _cache.move_to_end(key)
            return compiled
    check_nesting(source, field_name)
    try:
        with compile_guard(field_name):
            compiled = _env.from_string(source)
        # Jinja keeps a template's globals as a ChainMap and copies it into a dict on every render
        # (a third of a small render's time); the environment's globals never change after import.
        compiled.globals = dict(compiled.globals)
    except TemplateSyntaxError as exc:
        raise TemplateSyntaxProblem(
            f"Syntax error in {field_name} on line {exc.lineno}: {exc.message}", field=field_name
        ) from exc
    except TemplateTooDeep:
        raise
    except PromptError as exc:  # a forbidden tag, or constant folding already hit a cap
        exc.field = field_name
        exc.message = f"{field_name}: {exc.message}"
        raise
    with _cache_lock:
        _cache[key] = compiled
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


def render_section(source: str, field_name: str, variables: dict[str, Any]) -> str:
    """Render one section within the current bounded() limits; whatever goes wrong becomes a PromptError."""
    if not source:
        return ""
    try:
        compiled = compile_section(source, field_name)
        chunks: list[str] = []
        size = 0
        for chunk in compiled.generate(variables):
            size += len(chunk)
            if size > max_chars():
                raise RenderLimitExceeded(
                    f"Rendering {field_name} produced more than {max_chars()} characters and was stopped.",
                    code="output_too_large",
                )
            charge(len(chunk))
            check_deadline()
            chunks.append(chunk)
    except PromptError as exc:
        exc.field = exc.field or field_name
        if isinstance(exc, NotPrintable) and not exc.message.startswith(f"{field_name}:"):
            exc.message = f"{field_name}: {exc.message}"
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a template does, the caller gets a PromptError
        raise _prompt_error(exc, field_name) from exc
    return "".join(chunks).strip()


def _prompt_error(exc: Exception, field_name: str) -> PromptError:
    """Translate what a template raised into a PromptError that names the field and reveals no internals."""
    if isinstance(exc, SecurityError):
        found = _QUOTED.search(str(exc))
        what = f" ({found.group(1)})" if found else ""
        return SandboxViolation(f"{field_name} uses something prompts may not use{what}.", field=field_name)
    if isinstance(exc, UndefinedError):
        return VariableError(f"{field_name}: {exc.message}", field=field_name, code="undefined")
    if isinstance(exc, RecursionError):
        return RenderLimitExceeded(f"{field_name} recursed too deeply.", field=field_name)
    if isinstance(exc, MemoryError):
        return RenderLimitExceeded(f"{field_name} needed too much memory.", field=field_name)
    if isinstance(exc, OverflowError) or (isinstance(exc, ValueError) and "Exceeds the limit" in str(exc)):
        return RenderLimitExceeded(
            f"{field_name}: a number or range is too large ({exc}).", field=field_name, code="output_too_large"
        )
    if isinstance(exc, TemplateError | TypeError | ValueError | ArithmeticError | LookupError | AttributeError):
        return PromptError(f"{field_name}: {exc}", field=field_name, code="render_error")
    return PromptError(
        f"{field_name} could not be rendered ({type(exc).__name__}).", field=field_name, code="render_error"
    )
