"""Time and size limits for one render, checked by the sandbox in sandbox.py (no Jinja here).

A render may not run past its deadline, produce more than the output cap, nor build more than
INTERMEDIATE_FACTOR times the cap in intermediate text. A single Python call cannot be interrupted,
so anything that could build a huge value in one step (str.center(10**9), "%*d", big ** big,
joining many big strings) is sized *before* it runs and refused if it would not fit, and calls that
are slow on small values (the punycode and idna codecs are quadratic) are refused outright.
Containers are weighed with their shared items counted every time they appear: comparing or hashing
a list that holds the same list twice, thirty levels deep, walks a billion items in one C call.
"""

from __future__ import annotations

import codecs
import re
import threading
import time
from collections.abc import Callable, ItemsView, Iterator, KeysView, ValuesView
from contextlib import contextmanager
from typing import Any

from django.conf import settings

from promptlib.prompts.rendering.errors import NotPrintable, RenderLimitExceeded, SandboxViolation

# Integers above this many bits print as more than 19,000 digits: no prompt needs them.
INT_BITS_CAP = 65_536
# Intermediate text (loop bodies, macro output, filter results) may total this many times the cap.
INTERMEDIATE_FACTOR = 10
# How deep a value (a variable, its default, the output schema, a YAML file) may nest.
MAX_NESTING = 64
# Container types the sandbox creates beyond list/tuple/dict/set, and how to reach their items.
CONTAINER_ITEMS: dict[type, Callable[[Any], Any]] = {}
# Callable types that may still be printed (Jinja's Undefined raises its own clear error when printed).
PRINTABLE_CALLABLES: list[type] = []
# The only codecs str.encode/bytes.decode may use (as codecs.lookup names them: 'utf8', 'UTF_8',
# 'us-ascii'… are the same), and error handlers whose cost and output stay linear and small.
CODECS = frozenset({"utf-8", "ascii"})
CODEC_ERRORS = frozenset({"strict", "ignore", "replace"})


class _Budget(threading.local):
    deadline: float = 0.0
    timeout: float = 0.0
    max_chars: int = 0
    produced: int = 0


_budget = _Budget()


@contextmanager
def bounded(*, timeout: float, max_chars: int) -> Iterator[None]:
    """Run the body under one render's budget (per thread)."""
    _budget.timeout, _budget.max_chars, _budget.produced = timeout, max_chars, 0
    _budget.deadline = time.monotonic() + timeout
    try:
        yield
    finally:
        _budget.deadline, _budget.produced = 0.0, 0


def max_chars() -> int:
    return _budget.max_chars or settings.PROMPTLIB_RENDER_MAX_OUTPUT_CHARS


def too_large(what: str) -> RenderLimitExceeded:
    return RenderLimitExceeded(
        f"{what} would produce more than {max_chars()} characters and was stopped.", code="output_too_large"
    )


def check_deadline() -> None:
    if _budget.deadline and time.monotonic() > _budget.deadline:
        raise RenderLimitExceeded(
            f"Rendering took longer than {_budget.timeout:g} s and was stopped.", code="render_timeout"
        )


def charge(size: int) -> None:
    """Count characters built during the render; refuse once the intermediate budget is spent."""
    _budget.produced += size
    if _budget.produced > max_chars() * INTERMEDIATE_FACTOR:
        raise RenderLimitExceeded(
            f"Rendering built more than {max_chars() * INTERMEDIATE_FACTOR} characters of intermediate text "
            "and was stopped.",
            code="output_too_large",
        )


def check_result(value: Any, what: str = "Rendering") -> Any:
    """Called on every value a filter, method, operator, concatenation or [ ]/( )/{ } literal returns."""
    check_deadline()
    if isinstance(value, str | bytes):
        if len(value) > max_chars():
            raise too_large(what)
        charge(len(value))
    elif isinstance(value, list | tuple | dict):
        # Not only long containers: one whose shared items add up to a huge weight costs as much to
        # compare or hash as if it really were that big.
        limit = max_chars() * INTERMEDIATE_FACTOR
        if len(value) > max_chars():
            raise too_large(what)
        if weight(value, limit) > limit:
            raise RenderLimitExceeded(
                f"{what} holds more than {limit} characters of values, counting a value each time it "
                "appears, and was stopped.",
                code="output_too_large",
            )
        charge(len(value))
    elif isinstance(value, int) and value.bit_length() > INT_BITS_CAP:
        raise RenderLimitExceeded(f"{what} produced a number too large to use.", code="output_too_large")
    return value


def weight(value: Any, limit: int, depth: int = 0, *, printing: bool = False, seen: dict | None = None) -> int:
    """Roughly how many characters str(value) has, stopping early once it passes limit.

    Lists may share one big item many times ([s, s, s]), so a small object can print as gigabytes.
    A container met again at the same depth is not walked again (`seen`), so a shared structure
    costs one step per distinct container, and the walk stops as soon as the total passes the limit.
    (A result that passed its limit makes every caller up the walk pass theirs and stop too, so
    remembering it is safe.)
    printing: the value is about to become text, so functions and classes in it are refused
    (they would print as "<built-in method upper of str object at 0x…>").
    """
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 5
    if isinstance(value, int):
        return value.bit_length() // 3 + 1
    if isinstance(value, float | range):
        return 24
    if printing and callable(value) and not isinstance(value, tuple(PRINTABLE_CALLABLES)):
        raise not_printable(value)
    if isinstance(value, dict):
        items: Any = (x for pair in value.items() for x in pair)
    elif isinstance(value, list | tuple | set | frozenset | KeysView | ValuesView | ItemsView):
        items = value
    elif type(value) in CONTAINER_ITEMS:
        items = CONTAINER_ITEMS[type(value)](value)
    else:
        return 32
    if depth > MAX_NESTING:
        raise RenderLimitExceeded(
            f"A value is nested more than {MAX_NESTING} levels deep, too deeply to use.", code="output_too_large"
        )
    seen = {} if seen is None else seen
    key = (id(value), depth)
    if key in seen:
        return seen[key]
    total = 2
    for item in items:
        total += weight(item, limit - total, depth + 1, printing=printing, seen=seen) + 2
        if total > limit:
            break
    seen[key] = total
    return total


def check_weight(value: Any, what: str) -> None:
    """Refuse a value about to be printed: too large, or a function or class."""
    if weight(value, max_chars(), printing=True) > max_chars():
        raise too_large(what)


def not_printable(value: Any) -> NotPrintable:
    name = getattr(value, "__name__", None) or getattr(value, "name", None) or type(value).__name__
    name = str(name)[:60]
    return NotPrintable(
        f"'{name}' is a function or class, not a value, so it cannot be printed into a prompt; "
        f"call it (for example {name}(…)) or leave it out."
    )


def materialize(value: Any) -> Any:
    """Turn a one-shot iterator into a list so that it can be sized and then used."""
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset | range):
        return value
    return list(value) if hasattr(value, "__iter__") else value


# --- operators ---------------------------------------------------------------------------------


def check_binop(op: str, left: Any, right: Any) -> None:
    check_deadline()
    if op == "*":
        for seq, times in ((left, right), (right, left)):
            sized = isinstance(seq, str | bytes | list | tuple) and isinstance(times, int)
            if sized and len(seq) * max(times, 0) > max_chars():
                raise too_large(f"Repeating a value {times} times")
        if _both_int(left, right) and left.bit_length() + right.bit_length() > INT_BITS_CAP:
            raise RenderLimitExceeded("Multiplying these numbers gives one too large to use.", code="output_too_large")
    elif op == "**" and _both_int(left, right) and right > 0 and abs(left) > 1:
        if (left.bit_length() - 1) * right > INT_BITS_CAP:
            raise RenderLimitExceeded(f"Raising a number to the power {right} is too large.", code="output_too_large")
    elif op == "+" and isinstance(left, str | bytes | list | tuple) and isinstance(right, str | bytes | list | tuple):
        if len(left) + len(right) > max_chars():
            raise too_large("Adding these values")
    elif op == "-" and _both_int(left, right) and max(left.bit_length(), right.bit_length()) >= INT_BITS_CAP:
        raise RenderLimitExceeded("Subtracting these numbers gives one too large to use.", code="output_too_large")
    elif op == "%" and isinstance(left, str):
        check_percent_format(left, right)


def _both_int(left: Any, right: Any) -> bool:
    return all(isinstance(x, int) and not isinstance(x, bool) for x in (left, right))


# --- string formatting -------------------------------------------------------------------------

_PERCENT_SPEC = re.compile(r"%(?:\(([^)]*)\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])")
_DIGITS = re.compile(r"\d+")


def _number(text: str) -> int:
    # More than 9 digits is already far above any cap (and int() of a huge run is itself slow).
    return int(text) if len(text) <= 9 else 10**9


def check_percent_format(fmt: str, values: Any) -> None:
    """Size `fmt % values` before it runs: widths, precisions (also `*`) and the values themselves."""
    positional = values if isinstance(values, tuple) else (values,)
    mapping = values if isinstance(values, dict) else {}
    limit = max_chars()
    estimate, index = len(fmt), 0
    for match in _PERCENT_SPEC.finditer(fmt):
        key, width, precision, conversion = match.groups()
        if conversion == "%":
            continue
        sizes = []
        for part in (width, precision):
            if part == "*":
                star = positional[index] if index < len(positional) else 0
                index += 1
                sizes.append(abs(star) if isinstance(star, int) else 0)
            else:
                sizes.append(_number(part) if part else 0)
        if key is not None:
            arg = mapping.get(key)
        else:
            arg = positional[index] if index < len(positional) else None
            index += 1
        # repr() may escape every character into up to 10 (\U0001f600).
        factor = 10 if conversion in "ra" else 1
        estimate += max(sizes[0], sizes[1] + 24, weight(arg, limit, printing=True) * factor)
        if estimate > limit:
            raise too_large("This format string")


def check_format_spec(spec: str, value: Any) -> None:
    """Size one `{...:spec}` field of str.format before it is formatted."""
    if any(_number(run) > max_chars() for run in _DIGITS.findall(spec)):
        raise too_large("This format width")
    check_weight(value, "This format field")


# --- filters and methods that build strings ----------------------------------------------------


def replaced_size(text: str | bytes, old: Any, new: Any, count: Any = -1) -> int:
    if not isinstance(old, str | bytes) or not isinstance(new, str | bytes):
        return len(text)
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new) - len(old), 0)


def joined_size(items: Any, separator: Any) -> int:
    limit = max_chars()
    total = weight(items, limit, printing=True)
    if isinstance(items, list | tuple) and items:
        total += len(separator) * (len(items) - 1) if isinstance(separator, str | bytes) else 0
    return total


def _width(value: Any) -> int:
    return value if isinstance(value, int) else len(str(value))


def _lines(text: str) -> int:
    return text.count("\n") + 1


def _wordwrap_size(text: str, width: Any = 79, *_args: Any, wrapstring: Any = None, **_kw: Any) -> int:
    wrap = len(wrapstring) if isinstance(wrapstring, str) else 1
    width = width if isinstance(width, int) and width > 0 else 1
    lines = len(text) // width + text.count(" ") + _lines(text)
    return len(text) + lines * wrap


def _sum_size(value: Any, attribute: Any = None, start: Any = 0, **_kw: Any) -> int:
    if isinstance(start, int | float):
        return 0
    # Summing lists copies the running total every step: quadratic in the number of items.
    sizes = [len(item) if hasattr(item, "__len__") else 1 for item in value]
    total = sum(sizes) + (len(start) if hasattr(start, "__len__") else 0)
    return max(total, len(sizes) * total // 64)


def _tojson_size(value: Any, indent: Any = None, **_kw: Any) -> int:
    if isinstance(indent, int) and indent > 16:
        raise RenderLimitExceeded("tojson indents of more than 16 spaces are not allowed.", code="output_too_large")
    return weight(value, max_chars()) * (1 + (indent or 0))


# Filters that turn their value into a string first: a value that would print too large is refused.
STRINGIFYING_FILTERS = frozenset(
    {
        *("capitalize", "center", "e", "escape", "forceescape", "format", "indent", "lower", "pprint"),
        *("replace", "safe", "string", "striptags", "title", "trim", "truncate", "upper", "urlize"),
        *("wordcount", "wordwrap"),
    }
)
# Filters whose result can be much larger than their input: name → size estimate(value, *args, **kwargs).
# Stringifying filters receive str(value) (already known to be small enough to build).
FILTER_SIZES: dict[str, Callable[..., int]] = {
    "center": lambda text, width=80, **_: max(len(text), _width(width)),
    "indent": lambda text, width=4, *_a, **_: len(text) + _lines(text) * _width(width),
    "wordwrap": _wordwrap_size,
    "replace": lambda text, old, new, count=None, **_: replaced_size(text, old, new, -1 if count is None else count),
    "truncate": lambda text, length=255, killwords=False, end="...", *_a, **_: _width(end),
    "pprint": lambda text, **_: len(text) * 2,
    "join": lambda value, d="", attribute=None, **_: joined_size(value, d),
    "sum": _sum_size,
    "tojson": _tojson_size,
    "batch": lambda value, linecount, fill_with=None, **_: _width(linecount),
    "slice": lambda value, slices, fill_with=None, **_: _width(slices),
    "xmlattr": lambda value, *a, **_: weight(value, max_chars()) * 6,
    # Case-insensitive by default: these lower() a copy of every item before comparing.
    **dict.fromkeys(
        ("sort", "unique", "min", "max", "groupby", "dictsort"), lambda value, *a, **_: weight(value, max_chars())
    ),
    "urlencode": lambda value, **_: weight(value, max_chars()) * 3,
}
# Filters that consume an iterator: it is turned into a list first so that it can be sized.
MATERIALIZED_FILTERS = frozenset(
    {"join", "sum", "string", "pprint", "tojson", "sort", "unique", "min", "max", "groupby"}
)


# urlize looks for trailing punctuation with a regex that backtracks over a whole run of these
# characters from every position in it (')' * 20000 + 'x)' takes 16 s), and tries every extra
# scheme on every word: both are bounded before it runs.
_URLIZE_LONG_RUN = re.compile(r"[)>.,]{17}")
URLIZE_MAX_SCHEMES = 16


def check_urlize(text: str, args: tuple, kwargs: dict) -> None:
    if _URLIZE_LONG_RUN.search(text):
        raise RenderLimitExceeded(
            "The urlize filter cannot take more than 16 of ')', '>', '.' and ',' in a row; shorten them."
        )
    schemes = kwargs.get("extra_schemes", args[4] if len(args) > 4 else None)
    if schemes is not None and (not isinstance(schemes, list | tuple) or len(schemes) > URLIZE_MAX_SCHEMES):
        raise RenderLimitExceeded(f"The urlize filter takes a list of at most {URLIZE_MAX_SCHEMES} extra schemes.")


def check_filter(name: str, value: Any, args: tuple, kwargs: dict) -> None:
    check_deadline()
    if name in STRINGIFYING_FILTERS and not isinstance(value, str):
        check_weight(value, f"The {name} filter")
    if name == "format":
        check_percent_format(str(value), kwargs or args)
        return
    if name == "urlize":
        check_urlize(str(value), args, kwargs)
    estimate = FILTER_SIZES.get(name)
    if estimate is None:
        return
    subject = str(value) if name in STRINGIFYING_FILTERS else value
    if estimate(subject, *args, **kwargs) > max_chars():
        raise too_large(f"The {name} filter")


def _method_size(obj: Any, name: str, args: tuple) -> int:
    if isinstance(obj, str | bytes):
        if name in ("center", "ljust", "rjust", "zfill") and args:
            return _width(args[0]) if isinstance(args[0], int) else 0
        if name == "expandtabs":
            tab = args[0] if args and isinstance(args[0], int) else 8
            return len(obj) + obj.count("\t" if isinstance(obj, str) else b"\t") * max(tab, 0)
        if name == "replace" and len(args) >= 2:
            return replaced_size(obj, *args[:3])
        if name == "join" and args:
            return joined_size(args[0], obj)
        if name == "translate" and args and isinstance(obj, str):
            table = args[0]
            if not isinstance(table, dict):
                return 10**12  # only plain dict tables can be sized
            longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1)
            return len(obj) * longest
    if isinstance(obj, int) and name == "to_bytes" and args:
        return _width(args[0]) if isinstance(args[0], int) else 0
    return 0


def check_codec(name: str, args: tuple, kwargs: dict) -> None:
    """Refuse str.encode/bytes.decode with any codec but UTF-8 and ASCII (punycode and idna are quadratic)."""
    encoding = args[0] if args else kwargs.get("encoding", "utf-8")
    errors = args[1] if len(args) > 1 else kwargs.get("errors", "strict")
    try:
        known = isinstance(encoding, str) and len(encoding) <= 40 and codecs.lookup(encoding).name in CODECS
    except LookupError:
        known = False
    if not known:
        shown = repr(encoding)[:42]
        raise SandboxViolation(f"{name}() may only use 'utf-8' or 'ascii', not {shown}.", code="forbidden_codec")
    if not isinstance(errors, str) or errors not in CODEC_ERRORS:
        shown = repr(errors)[:42]
        raise SandboxViolation(
            f"{name}() accepts errors='strict', 'ignore' or 'replace', not {shown}.", code="forbidden_codec"
        )


def check_method_call(func: Any, args: tuple, kwargs: dict | None = None) -> tuple:
    """Size a call of a builtin method (str.ljust, bytes.center, int.to_bytes, str.join…) before it runs.

    Returns the arguments to use: an iterator given to join() is turned into a list first.
    """
    check_deadline()
    obj, name = getattr(func, "__self__", None), getattr(func, "__name__", "")
    if obj is None or not isinstance(obj, str | bytes | int):
        return args
    if name in ("encode", "decode") and isinstance(obj, str | bytes):
        check_codec(name, args, kwargs or {})
    if name == "join" and args:
        args = (materialize(args[0]), *args[1:])
    if _method_size(obj, name, args) > max_chars():
        raise too_large(f"Calling {name}()")
    return args
