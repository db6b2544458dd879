"""Variables are checked against their declaration before anything is rendered."""

import pytest

from promptlib.prompts.content import VersionContent
from promptlib.prompts.rendering import PromptErrors, VariableError, render, resolve_variables, validate_content
from promptlib.prompts.services import template_create, version_create


def _declared(kind, **extra):
    return [{"name": "value", "type": kind, **extra}]


def _codes(err):
    return [(e.field, e.code) for e in err.value.errors]


def test_it_rejects_a_missing_required_variable(welcome):
    with pytest.raises(PromptErrors) as err:
        render(welcome.versions.get(), {})
    assert _codes(err) == [("variables.name", "missing_variable")]
    assert err.value.errors[0].message == "Variable 'name' is required."


def test_it_rejects_unknown_variable(welcome):
    with pytest.raises(PromptErrors) as err:
        render(welcome.versions.get(), {"name": "Bea", "nmae": "typo"})
    assert _codes(err) == [("variables.nmae", "unknown_variable")]
    assert "nmae" in err.value.message


@pytest.mark.parametrize(
    ("kind", "wrong", "got"),
    [
        ("string", 5, "int"),
        ("number", "5", "str"),
        ("integer", 5.5, "float"),
        ("boolean", "true", "str"),
        ("list", "a,b", "str"),
        ("object", ["a"], "list"),
    ],
)
def test_it_rejects_a_value_of_the_wrong_type(kind, wrong, got):
    with pytest.raises(PromptErrors) as err:
        resolve_variables(_declared(kind), {"value": wrong})
    assert _codes(err) == [("variables.value", "wrong_type")]
    assert err.value.errors[0].message == f"Variable 'value' must be of type {kind}, got {got}."


@pytest.mark.parametrize(
    ("kind", "right"),
    [
        ("string", "x"),
        ("number", 1.5),
        ("number", 2),
        ("integer", 3),
        ("boolean", False),
        ("list", [1]),
        ("object", {}),
    ],
)
def test_it_accepts_a_value_of_the_declared_type(kind, right):
    assert resolve_variables(_declared(kind), {"value": right}) == {"value": right}


@pytest.mark.parametrize("kind", ["number", "integer"])
def test_it_does_not_take_a_boolean_for_a_number(kind):
    with pytest.raises(PromptErrors) as err:
        resolve_variables(_declared(kind), {"value": True})
    assert "got bool" in err.value.message


def test_it_applies_defaults(welcome):
    out = render(welcome.versions.get(), {"name": "Bea"})
    assert out.variables["brand"] == "Acme"
    assert "at most 120 words" in out.text


def test_a_given_value_overrides_the_default(welcome):
    out = render(welcome.versions.get(), {"name": "Bea", "brand": "Globex"})
    assert out.messages[0]["content"].startswith("You are the voice of Globex.")


def test_it_reports_every_variable_problem_at_once(welcome):
    with pytest.raises(PromptErrors) as err:
        render(welcome.versions.get(), {"max_words": "many", "colour": "red"})
    assert sorted(_codes(err)) == [
        ("variables.colour", "unknown_variable"),
        ("variables.max_words", "wrong_type"),
        ("variables.name", "missing_variable"),
    ]


def test_it_rejects_variables_that_are_not_an_object(welcome):
    with pytest.raises(VariableError) as err:
        render(welcome.versions.get(), ["Bea"])
    assert err.value.field == "variables"


def test_an_optional_variable_without_default_renders_as_none():
    content = VersionContent(task="[{{ note or 'none' }}]", variables=[{"name": "note", "type": "string"}])
    assert render(content, {}).text == "## Task\n[none]"


def test_it_rejects_a_template_using_an_undeclared_variable_at_save(acme):
    template = template_create(project=acme, slug="t", title="T")
    content = VersionContent(task="Hello {{ customer }}", variables=[])
    with pytest.raises(PromptErrors) as err:
        version_create(template=template, content=content)
    assert _codes(err) == [("task", "undeclared_variable")]
    assert "'customer'" in err.value.message
    assert not template.versions.exists()


def test_it_does_not_count_loop_and_set_names_as_undeclared():
    content = VersionContent(
        task="{% set greeting = 'Hi' %}{% for item in items %}{{ greeting }} {{ item }} {{ loop.index }}{% endfor %}",
        variables=[{"name": "items", "type": "list"}],
    )
    validate_content(content)


def test_it_rejects_an_unknown_declared_type():
    with pytest.raises(PromptErrors) as err:
        validate_content(VersionContent(task="{{ value }}", variables=_declared("date")))
    assert err.value.errors[0].field == "variables[0]"
    assert "unknown type 'date'" in err.value.message


def test_it_rejects_a_default_of_the_wrong_type():
    with pytest.raises(PromptErrors) as err:
        validate_content(VersionContent(task="{{ value }}", variables=_declared("integer", default="ten")))
    assert "Default of 'value' must be of type integer" in err.value.message


def test_it_rejects_a_variable_name_that_is_not_an_identifier():
    with pytest.raises(PromptErrors) as err:
        validate_content(VersionContent(task="hi", variables=[{"name": "first name", "type": "string"}]))
    assert "not a valid identifier" in err.value.message


def test_it_rejects_a_variable_declared_twice():
    with pytest.raises(PromptErrors) as err:
        validate_content(VersionContent(task="{{ value }}", variables=_declared("string") * 2))
    assert "declared twice" in err.value.message
