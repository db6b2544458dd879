"""render(): the documented layout, the Jinja2 settings, and the compiled-template cache."""

import pytest

from promptlib.prompts.content import VersionContent
from promptlib.prompts.rendering import PromptErrors, VariableError, render, validate_content
from promptlib.prompts.rendering import sandbox as rendering

NAME = [{"name": "name", "type": "string", "required": True}]


def test_it_renders_the_documented_layout(welcome):
    out = render(welcome.versions.get(), {"name": "Bea"})
    assert out.messages == [
        {
            "role": "system",
            "content": "You are the voice of Acme.\n\n## Constraints\nNever promise discounts.\n\n"
            "## Output format\nPlain text, at most 120 words.",
        },
        {"role": "user", "content": "Name: Ann"},
        {"role": "assistant", "content": "Hi Ann, welcome to Acme!"},
        {"role": "user", "content": "## Task\nWrite a welcome email to Bea."},
    ]


def test_it_renders_flat_text_in_the_same_order(welcome):
    out = render(welcome.versions.get(), {"name": "Bea"})
    assert out.text == (
        "You are the voice of Acme.\n\n## Constraints\nNever promise discounts.\n\n"
        "## Output format\nPlain text, at most 120 words.\n\n"
        "Example input:\nName: Ann\n\nExample output:\nHi Ann, welcome to Acme!\n\n"
        "## Task\nWrite a welcome email to Bea."
    )


def test_it_puts_context_before_task_in_the_user_message():
    out = render(VersionContent(context="Order 12.", task="Answer."))
    assert out.messages == [{"role": "user", "content": "## Context\nOrder 12.\n\n## Task\nAnswer."}]


def test_it_leaves_no_heading_for_an_empty_section():
    out = render(VersionContent(role="Be brief.", task="Say hi.", constraints="  ", format=""))
    assert "## Constraints" not in out.text
    assert "## Output format" not in out.text
    assert "## Context" not in out.text
    assert out.text == "Be brief.\n\n## Task\nSay hi."


def test_it_leaves_no_heading_for_a_section_that_renders_empty():
    content = VersionContent(
        task="Hi.", context="{% if vip %}VIP customer.{% endif %}", variables=[{"name": "vip", "type": "boolean"}]
    )
    assert render(content, {"vip": False}).messages == [{"role": "user", "content": "## Task\nHi."}]


def test_it_omits_the_system_message_without_system_sections():
    out = render(VersionContent(task="Say hi."))
    assert [m["role"] for m in out.messages] == ["user"]


def test_it_turns_each_example_into_a_user_assistant_pair():
    content = VersionContent(
        task="Classify.",
        examples=[{"input": "great!", "output": "positive"}, {"input": "awful", "output": "negative"}],
    )
    roles = [(m["role"], m["content"]) for m in render(content).messages]
    assert roles == [
        ("user", "great!"),
        ("assistant", "positive"),
        ("user", "awful"),
        ("assistant", "negative"),
        ("user", "## Task\nClassify."),
    ]


def test_it_renders_variables_inside_examples():
    content = VersionContent(
        task="Greet.", examples=[{"input": "Hi from {{ name }}", "output": "Hello {{ name|upper }}"}], variables=NAME
    )
    out = render(content, {"name": "Ann"})
    assert out.messages[0]["content"] == "Hi from Ann"
    assert out.messages[1]["content"] == "Hello ANN"


def test_it_returns_the_resolved_variables(welcome):
    out = render(welcome.versions.get(), {"name": "Bea"})
    assert out.variables == {"brand": "Acme", "name": "Bea", "max_words": 120}


def test_it_is_deterministic(welcome):
    version = welcome.versions.get()
    assert render(version, {"name": "Bea"}) == render(version, {"name": "Bea"})


def test_it_does_not_escape_html():
    content = VersionContent(task="{{ name }} & <b>co</b>", variables=NAME)
    assert render(content, {"name": "<Tom & Jerry>"}).text == "## Task\n<Tom & Jerry> & <b>co</b>"


def test_it_fails_on_an_undefined_attribute_instead_of_printing_nothing():
    content = VersionContent(task="{{ data.missing }}", variables=[{"name": "data", "type": "object"}])
    with pytest.raises(VariableError) as err:
        render(content, {"data": {"present": 1}})
    assert err.value.field == "task"
    assert "missing" in err.value.message


def test_it_uses_the_immutable_sandbox():
    assert isinstance(rendering._env, rendering.ImmutableSandboxedEnvironment)
    assert rendering._env.undefined is rendering.StrictUndefined
    assert rendering._env.autoescape is False


def test_it_compiles_each_distinct_section_once(monkeypatch):
    compiled = []
    original = rendering._env.from_string
    monkeypatch.setattr(rendering._env, "from_string", lambda source: compiled.append(source) or original(source))
    content = VersionContent(task="Cached {{ name }} task, unique to this test.", variables=NAME)
    render(content, {"name": "a"})
    render(content, {"name": "b"})
    render(VersionContent.from_dict(content.to_dict()), {"name": "c"})
    assert compiled == ["Cached {{ name }} task, unique to this test."]


def test_it_reports_a_syntax_error_with_section_and_line():
    content = VersionContent(task="Line one\nLine two\n{{ name ", variables=NAME)
    with pytest.raises(PromptErrors) as err:
        validate_content(content)
    assert err.value.errors[0].field == "task"
    assert err.value.errors[0].code == "syntax_error"
    assert err.value.message.startswith("Syntax error in task on line 3: ")


def test_it_reports_a_syntax_error_in_an_example():
    content = VersionContent(task="Hi", examples=[{"input": "ok", "output": "{% if %}"}])
    with pytest.raises(PromptErrors) as err:
        validate_content(content)
    assert err.value.errors[0].field == "examples[0].output"
    assert "Syntax error in examples[0].output on line 1" in err.value.message


def test_it_reports_an_unknown_filter_at_save():
    with pytest.raises(PromptErrors) as err:
        validate_content(VersionContent(task="{{ name|shout }}", variables=NAME))
    assert "No filter named 'shout'" in err.value.message
    assert err.value.errors[0].field == "task"


def test_it_reports_every_problem_at_once():
    content = VersionContent(role="{{ a }}", task="{% for %}", format="{{ b }}")
    with pytest.raises(PromptErrors) as err:
        validate_content(content)
    assert [e.field for e in err.value.errors] == ["role", "task", "format"]


def test_it_offers_range_dict_and_namespace():
    content = VersionContent(
        task="{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% endfor %}"
        "{{ ns.n }} {{ dict(a=1)|tojson }}"
    )
    validate_content(content)
    assert render(content).text == '## Task\n3 {"a": 1}'


def test_its_errors_serialise_with_field_code_and_message():
    with pytest.raises(PromptErrors) as err:
        validate_content(VersionContent(task="{{ nope }}"))
    assert err.value.errors[0].as_dict() == {
        "field": "task",
        "code": "undeclared_variable",
        "message": "task uses the variable 'nope', which is not declared. Declare it or remove it.",
    }
