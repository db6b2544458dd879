"""The sandbox: escapes fail with a PromptError, and every render is bounded in time and size.

Templates are rendered from VersionContent directly, skipping save-time validation, so that the
runtime sandbox itself is what is tested; validation is a second layer, tested on its own.
"""

import time

import pytest

from promptlib.prompts.content import VersionContent
from promptlib.prompts.rendering import (
    NotPrintable,
    PromptError,
    PromptErrors,
    RenderLimitExceeded,
    SandboxViolation,
    TemplateTooDeep,
    render,
    validate_content,
)
from tests.ssti_payloads import (
    DEEP_NESTING,
    ESCAPE_PAYLOADS,
    IDNA_BOMB,
    LEAK_MARKERS,
    MUTATION_PAYLOADS,
    PUNYCODE_BOMB,
)

VARIABLES = [
    {"name": "x", "type": "string", "default": "ab"},
    {"name": "items", "type": "list", "default": [1, 2]},
    {"name": "data", "type": "object", "default": {"a": 1}},
]


def _content(source: str) -> VersionContent:
    return VersionContent(task=source, variables=VARIABLES)


def _render_failure(source: str) -> PromptError:
    with pytest.raises(PromptError) as err:
        render(_content(source))
    return err.value


# --- escapes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", ESCAPE_PAYLOADS + MUTATION_PAYLOADS)
def test_the_sandbox_stops_an_escape_payload(payload):
    error = _render_failure(payload)
    assert error.field == "task"
    for marker in LEAK_MARKERS:
        assert marker not in error.message


@pytest.mark.parametrize("payload", ESCAPE_PAYLOADS)
def test_validation_rejects_an_escape_payload_at_save(payload):
    with pytest.raises(PromptErrors) as err:
        validate_content(_content(payload))
    assert err.value.errors[0].field == "task"
    assert err.value.errors[0].code in ("forbidden", "undeclared_variable", "syntax_error")


def test_it_reports_an_unsafe_attribute_as_a_sandbox_violation():
    error = _render_failure("{{ x.__class__ }}")
    assert isinstance(error, SandboxViolation)
    assert error.message == "task uses something prompts may not use (__class__)."


def test_it_refuses_unsafe_attributes_even_when_only_probed():
    assert isinstance(_render_failure("{{ x.__class__ is defined }}"), SandboxViolation)


def test_it_rejects_include_at_save_with_a_clear_message():
    with pytest.raises(PromptErrors) as err:
        validate_content(_content("Hi\n{% include 'other' %}"))
    assert err.value.message == "task: Line 2: prompts cannot extend, include or import other templates."


def test_it_does_not_offer_cycler_joiner_or_lipsum():
    for name in ("cycler", "joiner", "lipsum"):
        with pytest.raises(PromptErrors) as err:
            validate_content(_content("{{ " + name + " }}"))
        assert err.value.errors[0].code == "undeclared_variable"
        assert _render_failure("{{ " + name + " }}").code == "undefined"


def test_it_keeps_set_from_changing_a_variable_given_by_the_caller():
    content = VersionContent(task="{% set items = [9] %}{{ items }}", variables=VARIABLES)
    given = [1, 2]
    assert render(content, {"items": given}).text == "## Task\n[9]"
    assert given == [1, 2]


# --- bombs ---------------------------------------------------------------------------------------

BOMBS = {
    "nested range loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "string multiplication": "{{ 'a' * 10**9 }}",
    "list multiplication": "{{ [x] * 10**9 }}",
    "list multiplication through |list": "{{ x|list * 10**8 }}",
    "~ doubling in a namespace": (
        "{% set ns = namespace(v='a') %}{% for i in range(64) %}{% set ns.v = ns.v ~ ns.v %}{% endfor %}"
    ),
    "+ doubling in a namespace": (
        "{% set ns = namespace(v='a') %}{% for i in range(64) %}{% set ns.v = ns.v + ns.v %}{% endfor %}"
    ),
    "macro output doubling": (
        "{% macro f(n) %}{% if n %}{% set s = f(n - 1) %}{{ s }}{{ s }}{% else %}x{% endif %}{% endmacro %}{{ f(64) }}"
    ),
    "literal text in a macro loop": (
        "{% macro m() %}{% for i in range(100000) %}{% for j in range(100000) %}" + "A" * 200 + "{% endfor %}"
        "{% endfor %}{% endmacro %}{{ m()|length }}"
    ),
    "set block loop": "{% set s %}{% for i in range(100000) %}{{ 'a' * 1000 }}{% endfor %}{% endset %}{{ s|length }}",
    "filter block loop": "{% filter length %}{% for i in range(100000) %}{{ 'a' * 1000 }}{% endfor %}{% endfilter %}",
    # Ten levels (nesting is capped at 12 blocks), eight calls each: 8**10 copies.
    "caller fan-out": "{% macro m() %}"
    + "{{ caller() }}" * 8
    + "{% endmacro %}"
    + "{% call m() %}" * 10
    + "xxxx"
    + "{% endcall %}" * 10,
    "macro recursion": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "recursive loop": "{% for i in range(10) recursive %}{{ loop(range(10)) }}{% endfor %}",
    "loop.cycle": "{% for i in range(100000) %}{{ loop.cycle('a' * 100000, 'b') }}{% endfor %}",
    "center filter": "{{ 'a'|center(10**9) }}",
    "indent filter": "{{ 'a'|indent(10**9) }}",
    "indent with a long string on many lines": "{{ ('\\n' * 100000)|indent(' ' * 100000, blank=true) }}",
    "wordwrap with a long wrapstring": "{{ ('a ' * 100000)|wordwrap(1, wrapstring='x' * 100000) }}",
    "format filter width": "{{ '%0999999999d'|format(1) }}",
    "format filter star width": "{{ '%*d'|format(10**9, 1) }}",
    "format filter repeated field": "{{ ('%s' * 1000)|format(*(['b' * 100000] * 1000)) }}",
    "replace filter": "{{ ('a' * 100000)|replace('a', 'a' * 100000) }}",
    "replace empty string": "{{ ('a' * 100000)|replace('', 'b' * 1000) }}",
    "join of a repeated big string": "{{ (('b' * 100000,) * 100)|join }}",
    "join separator": "{{ range(100)|join('a' * 100000) }}",
    "batch": "{{ range(5)|batch(10**9, 'x')|list|length }}",
    "slice": "{{ range(5)|slice(10**9)|list|length }}",
    "sum of lists": "{% set l = [1] * 10 %}{{ ([l] * 10000)|sum(start=[])|length }}",
    "map chain": "{{ range(100000)|map('string')|map('center', 10000)|map('length')|sum }}",
    "string of a shared structure": "{% set a = ['x' * 1000] %}"
    + "".join("{% set a = [a, a] %}" for _ in range(30))
    + "{{ a|string }}",
    "tojson of a shared structure": "{% set a = ['x' * 1000] %}"
    + "".join("{% set a = [a, a] %}" for _ in range(30))
    + "{{ a|tojson }}",
    "tojson indent": "{{ (range(1000)|list)|tojson(indent=100000) }}",
    "sort lowering a big shared string": "{{ dict.fromkeys(range(100000), 'a' * 100000).values()|sort|length }}",
    "range|list": "{{ range(10**9)|list|length }}",
    "dict.fromkeys on a huge range": "{{ dict.fromkeys(range(10**9))|length }}",
    "power": "{{ 10 ** (10 ** (10 ** 10)) }}",
    "power of a big base": "{{ (9 ** 4096) ** 4096 }}",
    "repeated squaring": (
        "{% set ns = namespace(n=3) %}{% for i in range(64) %}{% set ns.n = ns.n * ns.n %}{% endfor %}"
    ),
    "big number printed": "{{ 9 ** 9000 }}",
    "%-format width": "{{ '%0999999999d' % 1 }}",
    "%-format star width": "{{ '%*d' % (10**9, 1) }}",
    "%-format precision": "{{ '%.999999999f' % 1.5 }}",
    "%-format repeated mapping key": "{% set d = {'a': 'b' * 190000} %}{{ ('%(a)s' * 1000) % d }}",
    "str.format width": "{{ '{:>999999999}'.format(1) }}",
    "str.format nested width": "{{ '{0:>{1}}'.format(1, 10**9) }}",
    "str.format repeated field": "{{ ('{0}' * 1000).format('b' * 190000) }}",
    "format_map width": "{{ '{a:>999999999}'.format_map(data) }}",
    "ljust": "{{ 'a'.ljust(10**9) }}",
    "rjust": "{{ x.rjust(10**9) }}",
    "zfill": "{{ 'a'.zfill(10**9) }}",
    "center method": "{{ 'a'.center(10**9) }}",
    "expandtabs": "{{ '\\t'.expandtabs(10**9) }}",
    "expandtabs on many tabs": "{{ ('\\t' * 1000).expandtabs(100000) }}",
    "replace method": "{{ ('a' * 100000).replace('a', 'a' * 100000) }}",
    "translate method": "{{ ('a' * 1000).translate({97: 'b' * 100000}) }}",
    "join method on a generated list": "{{ ','.join(['a' * 1000] * 1000) }}",
    "bytes center": "{{ x.encode().center(10**9) }}",
    "int.to_bytes": "{{ (1).to_bytes(10**9, 'big') }}",
    "self-containing namespace": "{% set ns = namespace(x=1) %}{% set ns.x = ns %}{{ ns }}",
    "output of a long string": "{{ x * 150000 }}{{ x * 150000 }}",
    # Small values that one comparison or hash walks a billion times (shared items, 30 levels deep).
    "comparing shared lists": "{% set a = ['x'] %}{% set b = ['x'] %}"
    + "".join("{% set a = [a, a] %}{% set b = [b, b] %}" for _ in range(30))
    + "{{ a == b }}",
    "hashing a shared tuple": "{% set t = ('x',) %}"
    + "".join("{% set t = (t, t) %}" for _ in range(30))
    + "{{ {t: 1}|length }}",
    "a shared dict in a list": "{% set d = {'a': 'x'} %}"
    + "".join("{% set d = {'a': d, 'b': d} %}" for _ in range(30))
    + "{{ [d] == [d.copy()] }}",
    "dict.fromkeys of a big value": "{% set s = 'x' * 100000 %}{{ dict.fromkeys(range(100), s) == {} }}",
    "repeating a list of a big value": "{% set s = ['x' * 100000] %}{{ (s * 1000)|length }}",
    # One regex call in urlize backtracks over the whole run from every position in it.
    "urlize trailing punctuation": "{{ (')' * 190000 ~ 'x)')|urlize|length }}",
    "urlize trailing dots": "{{ ('.' * 190000 ~ 'x.')|urlize|length }}",
    "urlize many extra schemes": "{{ ('a ' * 90000)|urlize(extra_schemes=['ab:'] * 100000)|length }}",
}


@pytest.mark.parametrize("source", BOMBS.values(), ids=BOMBS.keys())
def test_a_bomb_fails_cleanly_and_quickly(source):
    started = time.monotonic()
    with pytest.raises(RenderLimitExceeded) as err:
        render(_content(source))
    assert time.monotonic() - started < 2
    assert err.value.field == "task"
    assert err.value.code in ("render_limit", "render_timeout", "output_too_large")


# --- single slow calls -----------------------------------------------------------------------------


@pytest.mark.parametrize("source", [PUNYCODE_BOMB, IDNA_BOMB], ids=["punycode", "idna"])
def test_a_slow_codec_is_refused_before_it_runs(source):
    started = time.monotonic()
    error = _render_failure(source)
    assert time.monotonic() - started < 1.1
    assert (error.field, error.code) == ("task", "forbidden_codec")
    assert "may only use 'utf-8' or 'ascii'" in error.message


@pytest.mark.parametrize(
    "source",
    [
        "{{ x.encode('punycode') }}",
        "{{ x.encode(encoding='IDNA') }}",
        "{{ x.encode('utf-16') }}",
        "{{ x.encode('utf-8').decode('punycode') }}",
        "{{ x.encode().decode(encoding='idna') }}",
        "{{ x.encode('no-such-codec') }}",
        "{{ x.encode(items) }}",
        "{{ x.encode('ascii', 'namereplace') }}",
        "{{ x.encode('utf-8', errors='xmlcharrefreplace') }}",
    ],
)
def test_only_utf8_and_ascii_codecs_are_allowed(source):
    assert _render_failure(source).code == "forbidden_codec"


@pytest.mark.parametrize(
    "source",
    [
        "{{ x.encode()|length }}",
        "{{ x.encode('utf8')|length }}",
        "{{ x.encode('UTF-8')|length }}",
        "{{ x.encode('utf_8')|length }}",
        "{{ x.encode('ascii')|length }}",
        "{{ x.encode('us-ascii')|length }}",
        "{{ x.encode(encoding='US_ASCII', errors='replace')|length }}",
        "{{ x.encode().decode('utf-8', 'ignore')|length }}",
    ],
)
def test_every_spelling_of_utf8_and_ascii_still_works(source):
    assert render(_content(source)).text == "## Task\n2"


# --- functions and classes are not printed ----------------------------------------------------------

NOT_PRINTABLE = {
    "range": "{{ range }}",
    "dict": "{{ dict }}",
    "namespace": "{{ namespace }}",
    "a method": "{{ 'a'.upper }}",
    "a method of a variable": "{{ x.upper }}",
    "a macro": "{% macro m() %}hi{% endmacro %}{{ m }}",
    "in a list": "{{ [x.upper] }}",
    "through |string": "{{ range|string }}",
    "through |join": "{{ [dict]|join }}",
    "through ~": "{{ 'a' ~ range }}",
    "through %": "{{ '%s' % (range,) }}",
    "through str.format": "{{ '{}'.format(dict) }}",
}


@pytest.mark.parametrize("source", NOT_PRINTABLE.values(), ids=NOT_PRINTABLE.keys())
def test_a_function_or_class_is_not_printed(source):
    error = _render_failure(source)
    assert isinstance(error, NotPrintable)
    assert error.field == "task"
    assert error.message.startswith("task: ")
    assert "cannot be printed into a prompt" in error.message
    for marker in (*LEAK_MARKERS, "<built-in", "0x"):
        assert marker not in error.message


def test_functions_and_classes_can_still_be_called_and_kept():
    source = "{% set fs = [x.upper] %}{{ fs[0]() }} {{ range(3)|list }} {{ dict(a=1) }} {{ namespace(a=2).a }}"
    assert render(_content(source)).text == "## Task\nAB [0, 1, 2] {'a': 1} 2"


# --- nesting ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", DEEP_NESTING.values(), ids=DEEP_NESTING.keys())
def test_deep_nesting_is_refused_at_save_naming_the_section(source):
    started = time.monotonic()
    with pytest.raises(PromptErrors) as err:
        validate_content(VersionContent(role=source))
    assert time.monotonic() - started < 2
    assert [(e.field, e.code) for e in err.value.errors] == [("role", "too_deep")]
    assert err.value.errors[0].message.startswith("role ")


@pytest.mark.parametrize("source", DEEP_NESTING.values(), ids=DEEP_NESTING.keys())
def test_deep_nesting_is_refused_at_render_naming_the_section(source):
    error = _render_failure(source)
    assert isinstance(error, TemplateTooDeep)
    assert (error.field, error.code) == ("task", "too_deep")


def test_the_precheck_names_the_line_where_nesting_goes_too_deep():
    source = "Hello\n" + "{% if true %}\n" * 30 + "{% endif %}" * 30
    assert "(line 14)" in _render_failure(source).message


NESTED_ENOUGH = {
    "12 nested for loops": ("{% for i in range(2) %}" * 12 + "{% endfor %}" * 12 + "ok", "ok"),
    "12 nested ifs and filters": (
        "{% if true %}{% filter upper %}" * 6 + "ok" + "{% endfilter %}{% endif %}" * 6,
        "OK",
    ),
    "11 ifs in a set block": (
        "{% set s %}" + "{% if true %}" * 11 + "ok" + "{% endif %}" * 11 + "{% endset %}{{ s }}",
        "ok",
    ),
    "24 nested parentheses": ("{{ " + "(" * 24 + "1" + ")" * 24 + " }}", "1"),
    "many sets at one level": ("{% set a = 1 %}" * 50 + "{% if true %}{{ a }}{% endif %}", "1"),
    "brackets in plain text": ("(" * 200 + "{{ x }}", "(" * 200 + "ab"),
}


@pytest.mark.parametrize(("source", "expected"), NESTED_ENOUGH.values(), ids=NESTED_ENOUGH.keys())
def test_nesting_within_the_bounds_still_renders(source, expected):
    validate_content(_content(source))
    assert render(_content(source)).text == "## Task\n" + expected


def test_a_default_nested_too_deeply_is_refused_at_save():
    deep: list = []
    for _ in range(100):
        deep = [deep]
    content = VersionContent(task="{{ x }}", variables=[{"name": "x", "type": "list", "default": deep}])
    with pytest.raises(PromptErrors) as err:
        validate_content(content)
    assert [(e.field, e.code) for e in err.value.errors] == [("variables[0]", "too_deep")]


def test_an_output_schema_nested_too_deeply_is_refused_at_save():
    schema: dict = {"type": "string"}
    for _ in range(100):
        schema = {"type": "array", "items": schema}
    with pytest.raises(PromptErrors) as err:
        validate_content(VersionContent(task="Hi", output_schema=schema))
    assert [(e.field, e.code) for e in err.value.errors] == [("output_schema", "too_deep")]


def test_the_time_cap_comes_from_settings(settings):
    settings.PROMPTLIB_RENDER_TIMEOUT_SECONDS = 0.2
    started = time.monotonic()
    with pytest.raises(RenderLimitExceeded) as err:
        render(_content(BOMBS["nested range loops"]))
    assert time.monotonic() - started < 0.6
    assert err.value.code == "render_timeout"
    assert "0.2 s" in err.value.message


def test_the_size_cap_comes_from_settings(settings):
    settings.PROMPTLIB_RENDER_MAX_OUTPUT_CHARS = 1000
    assert len(render(_content("{{ 'a' * 900 }}")).text) == len("## Task\n") + 900
    with pytest.raises(RenderLimitExceeded) as err:
        render(_content("{{ 'a' * 1001 }}"))
    assert err.value.code == "output_too_large"


def test_the_size_cap_covers_the_whole_prompt(settings):
    settings.PROMPTLIB_RENDER_MAX_OUTPUT_CHARS = 1000
    content = VersionContent(role="r" * 600, task="t" * 600)
    with pytest.raises(RenderLimitExceeded) as err:
        render(content)
    assert "more than the cap of 1000" in err.value.message


def test_a_limit_in_one_render_does_not_leak_into_the_next():
    with pytest.raises(RenderLimitExceeded):
        render(_content(BOMBS["set block loop"]))
    assert render(_content("{{ x }}")).text == "## Task\nab"


# --- no false alarms -----------------------------------------------------------------------------

ORDINARY = {
    "percent sign and a long number": ("{{ 'Order 123456: 50%% off %s' % x }}", "Order 123456: 50% off ab"),
    "format filter": ("{{ '%-6s|%5.1f'|format(x, 2.25) }}", "ab    |  2.2"),
    "str.format with widths": ("{{ '[{:>5}|{:08.3f}]'.format(x, 3.14159) }}", "[   ab|0003.142]"),
    "center and ljust": ("{{ x|center(6) }}|{{ x.ljust(4, '.') }}", "ab  |ab.."),
    "join and map": ("{{ items|map('string')|join(', ') }}", "1, 2"),
    "a big but allowed repetition": ("{{ ('ab' * 50000)|length }}", "100000"),
    "a long number": ("{{ 2 ** 200 }}", str(2**200)),
    "replace": ("{{ 'a-b-c'|replace('-', ' - ') }}", "a - b - c"),
    "sort and unique": ("{{ ['b', 'A', 'a']|unique|sort|join }}", "Ab"),
    "wordwrap": ("{{ 'aaa bbb ccc'|wordwrap(4) }}", "aaa\nbbb\nccc"),
    "subtraction": ("{{ 10 - 3 }}", "7"),
    "urlize": (
        "{{ 'See https://example.com/a_(b)... or www.x.org.'|urlize }}",
        'See <a href="https://example.com/a_(b)" rel="noopener">https://example.com/a_(b)</a>... or '
        '<a href="https://www.x.org" rel="noopener">www.x.org</a>.',
    ),
}


@pytest.mark.parametrize(("source", "expected"), ORDINARY.values(), ids=ORDINARY.keys())
def test_ordinary_templates_still_render(source, expected):
    validate_content(_content(source))
    assert render(_content(source)).text == "## Task\n" + expected
