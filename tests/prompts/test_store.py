import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.conf import settings

from promptlib.core.models import Project
from promptlib.prompts.content import VersionContent
from promptlib.prompts.models import Template, Version
from promptlib.prompts.rendering import render
from promptlib.prompts.store import (
    TemplateFile,
    TemplateStoreError,
    template_file_dump,
    template_file_parse,
    template_files_read,
    templates_import,
)
from promptlib.prompts.store import importing as templates_store

STORE = Path(settings.BASE_DIR) / "templates_store"
SHIPPED = sorted(STORE.glob("*.yaml"))
SAMPLES = {"string": "Sample text", "number": 1.5, "integer": 3, "boolean": True, "list": ["one", "two"], "object": {}}

VALID = {
    "slug": "greeting",
    "title": "Greeting",
    "variables": [{"name": "name", "type": "string", "required": True}],
    "task": "Greet {{ name }}.",
}


def _parse(data=None, *, path="store/greeting.yaml", text=None) -> TemplateFile:
    return template_file_parse(path=path, text=text if text is not None else yaml.safe_dump(data, sort_keys=False))


def _problems(**kwargs) -> list[str]:
    with pytest.raises(TemplateStoreError) as caught:
        _parse(**kwargs)
    return [str(problem) for problem in caught.value.problems]


def _shipped(path: Path) -> TemplateFile:
    return template_file_parse(path=path.name, text=path.read_text(encoding="utf-8"))


# --- the shipped examples ----------------------------------------------------------------------


def test_the_store_ships_the_four_examples():
    assert [p.stem for p in SHIPPED] == [
        "invoice-extractor",
        "marketing-email",
        "product-description",
        "support-reply",
        "support-ticket-triage",
    ]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_templates_render_with_sample_variables(path):
    file = _shipped(path)
    given = {v["name"]: SAMPLES[v["type"]] for v in file.content.variables if v["required"] and v["default"] is None}
    out = render(file.content, given)
    assert out.messages[-1]["role"] == "user"
    assert "{{" not in out.text and "{%" not in out.text
    for value in given.values():
        if isinstance(value, str):
            assert value in out.text


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_templates_are_complete_and_published(path):
    file = _shipped(path)
    assert file.content.variables and file.content.examples
    assert file.content.provider == "openai" and file.content.model == "gpt-4o-mini"
    assert file.content.temperature is not None and file.content.max_tokens
    assert file.labels == ["production"]


@pytest.mark.parametrize("slug", ["support-ticket-triage", "invoice-extractor"])
def test_shipped_few_shot_outputs_match_the_output_schema(slug):
    file = _shipped(STORE / f"{slug}.yaml")
    assert file.content.output_schema
    for example in file.content.examples:
        jsonschema.validate(json.loads(example["output"]), file.content.output_schema)


def test_triage_schema_allows_exactly_the_five_categories():
    schema = _shipped(STORE / "support-ticket-triage.yaml").content.output_schema
    assert schema["properties"]["category"]["enum"] == ["billing", "technical", "account", "shipping", "other"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"category": "sales"}, schema)


def test_invoice_schema_requires_the_five_fields():
    schema = _shipped(STORE / "invoice-extractor.yaml").content.output_schema
    assert sorted(schema["required"]) == ["currency", "date", "invoice_number", "total", "vendor"]


# --- parsing -----------------------------------------------------------------------------------


def test_it_parses_a_minimal_file_with_defaults():
    file = _parse(VALID)
    assert (file.slug, file.title, file.tags, file.labels) == ("greeting", "Greeting", [], [])
    assert file.content.variables == [
        {"name": "name", "type": "string", "required": True, "default": None, "description": ""}
    ]


def test_it_names_file_and_field_of_an_unknown_variable_type():
    data = {**VALID, "variables": [VALID["variables"][0], {"name": "tone", "type": "strng"}]}
    assert _problems(data=data) == [
        "store/greeting.yaml: variables[1].type: unknown type 'strng'; "
        "use one of string, number, integer, boolean, list, object"
    ]


def test_it_rejects_unknown_keys():
    data = {**VALID, "prompt": "x", "variables": [{**VALID["variables"][0], "kind": "x"}]}
    problems = _problems(data=data)
    assert any(p.startswith("store/greeting.yaml: prompt: unknown key") for p in problems)
    assert any(p.startswith("store/greeting.yaml: variables[0].kind: unknown key") for p in problems)


def test_it_rejects_a_missing_slug():
    data = {k: v for k, v in VALID.items() if k != "slug"}
    assert "store/greeting.yaml: slug: is required" in _problems(data=data)


def test_it_rejects_a_slug_with_spaces():
    problems = _problems(data={**VALID, "slug": "my greeting"}, path="store/my greeting.yaml")
    assert any("slug: 'my greeting' is not a slug" in p for p in problems)


def test_it_rejects_a_slug_that_differs_from_the_file_name():
    problems = _problems(data=VALID, path="store/hello.yaml")
    assert problems == ["store/hello.yaml: slug: 'greeting' does not match the file name; name the file greeting.yaml"]


def test_it_rejects_duplicate_keys():
    text = "slug: greeting\ntitle: One\ntitle: Two\n"
    assert _problems(text=text) == ["store/greeting.yaml: line 3: invalid YAML: duplicate key 'title'"]


def test_it_rejects_invalid_yaml_with_its_line():
    problems = _problems(text="slug: greeting\ntitle: [unclosed\ntask: x\n")
    assert len(problems) == 1 and problems[0].startswith("store/greeting.yaml: line ")
    assert "invalid YAML" in problems[0]


def test_it_rejects_a_file_that_is_not_a_mapping():
    assert _problems(text="- one\n- two\n") == ["store/greeting.yaml: must be a mapping of template fields, got list"]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"tags": "email"}, "tags: must be a list of strings"),
        ({"labels": ["production", "production"]}, "labels: lists the same value twice"),
        ({"labels": ["prod uction"]}, "labels[0]: 'prod uction' is not a label name"),
        ({"model_settings": {"temperature": "hot"}}, "model_settings.temperature: must be a non-negative number"),
        ({"model_settings": {"max_tokens": 1.5}}, "model_settings.max_tokens: must be a non-negative integer"),
        ({"model_settings": {"engine": "x"}}, "model_settings.engine: unknown key"),
        ({"examples": [{"input": "hi"}]}, "examples[0].output: is required"),
        ({"task": ["a list"]}, "task: must be a string, got list"),
        ({"variables": [{"name": "name", "required": "yes"}]}, "variables[0].required: must be true or false"),
    ],
)
def test_it_rejects_wrong_types(override, expected):
    problems = _problems(data={**VALID, **override})
    assert any(p.startswith(f"store/greeting.yaml: {expected}") for p in problems), problems


def test_it_rejects_yaml_values_json_cannot_hold():
    text = yaml.safe_dump(VALID) + "model_settings:\n  output_schema:\n    default: 2024-01-01\n"
    problems = _problems(text=text)
    assert problems == [
        "store/greeting.yaml: model_settings.output_schema: date values are not allowed (quote it to make it a string)"
    ]


def test_it_reports_a_syntax_error_with_the_section_line():
    problems = _problems(data={**VALID, "context": "Line one\n{{ name }"})
    assert problems == ["store/greeting.yaml: context: Syntax error in context on line 2: unexpected '}'"]


def test_it_reports_an_undeclared_variable():
    problems = _problems(data={**VALID, "role": "You write for {{ brand }}."})
    assert problems == [
        "store/greeting.yaml: role: role uses the variable 'brand', which is not declared. Declare it or remove it."
    ]


def test_it_reports_an_invalid_output_schema():
    problems = _problems(data={**VALID, "model_settings": {"output_schema": {"type": "objekt"}}})
    assert len(problems) == 1 and problems[0].startswith("store/greeting.yaml: output_schema: ")


def test_it_reports_every_problem_of_a_file_at_once():
    data = {**VALID, "slug": "greeting", "tags": 3, "colour": "red", "variables": [{"name": "x", "type": "strng"}]}
    assert len(_problems(data=data)) == 3


def test_reading_a_directory_rejects_two_files_for_one_slug(tmp_path):
    text = yaml.safe_dump(VALID)
    (tmp_path / "greeting.yaml").write_text(text)
    (tmp_path / "greeting.yml").write_text(text)
    with pytest.raises(TemplateStoreError) as caught:
        template_files_read(path=tmp_path)
    assert "slug: 'greeting' is also used by" in str(caught.value)


def test_reading_a_directory_without_template_files_is_an_error(tmp_path):
    (tmp_path / "README.md").write_text("notes")
    with pytest.raises(TemplateStoreError, match="contains no .yaml template files"):
        template_files_read(path=tmp_path)


# --- dumping -----------------------------------------------------------------------------------


def _dump(content: VersionContent, *, labels=(), description="") -> str:
    template = Template(slug="greeting", title="Grüße", description=description, tags=["email"])
    return template_file_dump(template=template, content=content, labels=list(labels))


def test_dump_then_parse_gives_the_same_content(welcome_content):
    text = _dump(welcome_content, labels=["production"])
    parsed = template_file_parse(path="greeting.yaml", text=text)
    assert parsed.content.content_hash() == welcome_content.content_hash()
    assert parsed.labels == ["production"] and parsed.title == "Grüße"


def test_dump_writes_sections_as_literal_blocks(welcome_content):
    text = _dump(welcome_content)
    assert "role: |\n  You are the voice of {{ brand }}.\n" in text
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_dump_keeps_unicode_and_sorts_schema_keys(welcome_content):
    schema_a = {"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "number"}}}
    schema_b = {"properties": {"a": {"type": "number"}, "b": {"type": "string"}}, "type": "object"}
    content = VersionContent(**{**welcome_content.to_dict(), "task": "Schreib „Grüße“ 👋", "output_schema": schema_a})
    text = _dump(content)
    assert text == _dump(VersionContent(**{**content.to_dict(), "output_schema": schema_b}))
    assert "Schreib „Grüße“ 👋" in text and "title: Grüße" in text
    assert text.index("    properties:") < text.index("    type: object")


def test_dump_sorts_labels_and_writes_multi_line_descriptions_as_blocks(welcome_content):
    text = _dump(welcome_content, labels=["staging", "production"], description="Line one\nLine two  \n")
    assert "labels: [production, staging]\n" in text
    assert "description: |\n  Line one\n  Line two\n" in text


# --- importing (one transaction) ---------------------------------------------------------------


def test_a_failure_while_writing_rolls_back_every_file(db, monkeypatch):
    files = [_parse(VALID), _parse({**VALID, "slug": "farewell"}, path="store/farewell.yaml")]
    calls = []

    def failing_version_create(**kwargs):
        calls.append(kwargs["template"].slug)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return original(**kwargs)

    original = templates_store.version_create
    monkeypatch.setattr(templates_store, "version_create", failing_version_create)
    with pytest.raises(RuntimeError):
        templates_import(project_slug="fresh", files=files)
    assert calls == ["greeting", "farewell"]
    assert not Project.objects.filter(slug="fresh").exists()
    assert not Template.objects.exists() and not Version.objects.exists()


def test_import_rejects_a_project_slug_that_is_not_a_slug(db):
    with pytest.raises(TemplateStoreError, match="is not a project slug"):
        templates_import(project_slug="no spaces", files=[_parse(VALID)])
