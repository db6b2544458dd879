import re
import shutil
import time
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import CommandError, call_command

from promptlib.core.models import Project
from promptlib.prompts.models import Label, LabelEvent, Template, Version
from tests.ssti_payloads import DEEP_NESTING

STORE = Path(settings.BASE_DIR) / "templates_store"


def _import(*args: str) -> str:
    out = StringIO()
    call_command("import_templates", *args, stdout=out)
    return out.getvalue()


def _write(directory: Path, slug: str, **fields) -> Path:
    data = {
        "slug": slug,
        "title": slug.title(),
        "labels": ["production"],
        "variables": [{"name": "name", "type": "string", "required": True}],
        "task": "Greet {{ name }}.",
        **fields,
    }
    path = directory / f"{slug}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path) -> Path:
    """A copy of the shipped templates_store/ that a test may change."""
    directory = tmp_path / "store"
    shutil.copytree(STORE, directory)
    return directory


def test_it_creates_the_project(db, store):
    _import(str(store), "--project", "brand-new")
    project = Project.objects.get(slug="brand-new")
    assert project.name == "Brand New"
    assert sorted(project.templates.values_list("slug", flat=True)) == [p.stem for p in sorted(store.glob("*.yaml"))]


def test_it_imports_templates_store_by_default_with_production_on_version_1(db):
    output = _import("--project", "acme")
    assert "5 templates created, 0 updated, 5 new versions, 5 labels moved, 0 unchanged" in output
    labels = Label.objects.filter(template__project__slug="acme")
    assert {(label.name, label.version.number) for label in labels} == {("production", 1)}
    assert labels.count() == 5


def test_it_imports_into_an_existing_project(acme, store):
    _import(str(store), "--project", "acme")
    assert Template.objects.filter(project=acme).count() == 5


def test_it_records_label_moves_as_imports(db, store):
    _import(str(store), "--project", "acme")
    events = LabelEvent.objects.filter(template__slug="marketing-email")
    assert [(e.label, e.via, e.from_version, e.to_version.number) for e in events] == [
        ("production", "import", None, 1)
    ]


def test_reimporting_unchanged_files_creates_nothing(db, store):
    _import(str(store), "--project", "acme")
    versions, events = Version.objects.count(), LabelEvent.objects.count()
    output = _import(str(store), "--project", "acme")
    assert "0 templates created, 0 updated, 0 new versions, 0 labels moved, 5 unchanged" in output
    assert (Version.objects.count(), LabelEvent.objects.count()) == (versions, events)


def test_a_changed_file_creates_exactly_one_new_version_and_moves_its_labels(db, tmp_path):
    _write(tmp_path, "greeting")
    _write(tmp_path, "farewell")
    _import(str(tmp_path), "--project", "acme")
    _write(tmp_path, "greeting", task="Greet {{ name }} warmly.")
    output = _import(str(tmp_path), "--project", "acme")
    assert "0 templates created, 0 updated, 1 new versions, 1 labels moved, 1 unchanged" in output
    greeting = Template.objects.get(slug="greeting")
    assert list(greeting.versions.values_list("number", flat=True)) == [2, 1]
    assert greeting.labels.get(name="production").version.number == 2
    assert greeting.versions.get(number=2).task == "Greet {{ name }} warmly."
    assert Template.objects.get(slug="farewell").versions.count() == 1


def test_whitespace_at_the_ends_of_texts_is_not_a_change(db, tmp_path):
    _write(tmp_path, "greeting")
    _import(str(tmp_path), "--project", "acme")
    _write(tmp_path, "greeting", task="\n\nGreet {{ name }}.   \n")
    assert "1 unchanged" in _import(str(tmp_path), "--project", "acme")


def test_a_changed_title_updates_the_template_without_a_new_version(db, tmp_path):
    _write(tmp_path, "greeting")
    _import(str(tmp_path), "--project", "acme")
    _write(tmp_path, "greeting", title="Warm greeting", tags=["email"])
    assert "1 updated, 0 new versions" in _import(str(tmp_path), "--project", "acme")
    template = Template.objects.get(slug="greeting")
    assert (template.title, template.tags, template.versions.count()) == ("Warm greeting", ["email"], 1)


def test_it_leaves_labels_that_the_file_does_not_list_alone(db, tmp_path):
    _write(tmp_path, "greeting", labels=["production", "staging"])
    _import(str(tmp_path), "--project", "acme")
    _write(tmp_path, "greeting", labels=["staging"], task="Hello {{ name }}.")
    _import(str(tmp_path), "--project", "acme")
    labels = dict(Label.objects.values_list("name", "version__number"))
    assert labels == {"production": 1, "staging": 2}


def test_it_imports_a_single_file(db, store):
    _import(str(store / "invoice-extractor.yaml"), "--project", "acme")
    assert list(Template.objects.values_list("slug", flat=True)) == ["invoice-extractor"]


BAD_FILES = {
    "invalid YAML": ("slug: zz-bad\ntitle: [unclosed\n", "line "),
    "unknown variable type": (
        "slug: zz-bad\ntitle: Bad\nvariables:\n  - name: tone\n  - name: topic\n    type: strng\n",
        "variables[1].type: unknown type 'strng'",
    ),
    "syntax error in a section": (
        "slug: zz-bad\ntitle: Bad\ntask: |\n  Line one\n  {% if x %}never closed\n",
        "task: Syntax error in task on line 2",
    ),
    "undeclared variable": (
        "slug: zz-bad\ntitle: Bad\nrole: You write for {{ brand }}.\n",
        "role: role uses the variable 'brand', which is not declared",
    ),
    "missing slug": ("title: Bad\ntask: Hello.\n", "slug: is required"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_a_bad_file_is_reported_and_nothing_from_the_run_is_imported(db, store, case):
    text, expected = BAD_FILES[case]
    (store / "zz-bad.yaml").write_text(text)
    with pytest.raises(CommandError) as caught:
        _import(str(store), "--project", "acme")
    message = str(caught.value)
    assert "Nothing was imported" in message
    assert f"zz-bad.yaml: {expected}" in message
    assert not Project.objects.filter(slug="acme").exists()
    assert not Template.objects.exists() and not Version.objects.exists()


def test_a_bad_file_leaves_an_existing_project_untouched(db, tmp_path):
    _write(tmp_path, "greeting")
    _import(str(tmp_path), "--project", "acme")
    _write(tmp_path, "greeting", task="Changed {{ name }}.")
    _write(tmp_path, "zz-bad", variables=[{"name": "tone", "type": "strng"}])
    with pytest.raises(CommandError, match="zz-bad.yaml: variables"):
        _import(str(tmp_path), "--project", "acme")
    assert Version.objects.count() == 1 and Template.objects.count() == 1


def test_it_reports_a_missing_path(db, tmp_path):
    with pytest.raises(CommandError, match="no such file or directory"):
        _import(str(tmp_path / "nope"), "--project", "acme")


def test_it_requires_a_project(db):
    with pytest.raises(CommandError, match="--project"):
        call_command("import_templates")


# --- issue 10: deep nesting and alias bombs are refused with the file and field named --------------


@pytest.mark.parametrize("source", DEEP_NESTING.values(), ids=DEEP_NESTING.keys())
def test_deep_nesting_in_a_section_is_refused_naming_file_and_field(db, tmp_path, source):
    _write(tmp_path, "deep", task=source)
    with pytest.raises(CommandError) as caught:
        _import(str(tmp_path), "--project", "acme")
    assert re.search(r"deep\.yaml: task: task (nests|is nested)", str(caught.value))
    assert not Template.objects.exists()


BILLION_LAUGHS = (
    "slug: laughs\ntitle: Laughs\ntask: Hi\nmodel_settings:\n  output_schema:\n"
    "    a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(
        f"    {name}: &{name} [{', '.join(['*' + prev] * 9)}]\n"
        for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
)


def test_a_yaml_alias_bomb_in_the_output_schema_is_refused_fast_naming_the_file(db, tmp_path):
    (tmp_path / "laughs.yaml").write_text(BILLION_LAUGHS)
    started = time.monotonic()
    with pytest.raises(CommandError) as caught:
        _import(str(tmp_path), "--project", "acme")
    assert time.monotonic() - started < 1
    assert "laughs.yaml: line " in str(caught.value)
    assert "aliases repeat more than 1000 values" in str(caught.value)


def test_a_few_aliases_are_still_allowed(db, tmp_path):
    text = "slug: shared\ntitle: Shared\nrole: &line Be brief.\nconstraints: *line\n"
    (tmp_path / "shared.yaml").write_text(text)
    _import(str(tmp_path), "--project", "acme")
    version = Version.objects.get()
    assert (version.role, version.constraints) == ("Be brief.", "Be brief.")


def test_an_alias_inside_its_own_anchor_is_refused(db, tmp_path):
    (tmp_path / "loop.yaml").write_text("slug: loop\ntitle: Loop\nmodel_settings:\n  output_schema: &s {a: *s}\n")
    with pytest.raises(CommandError, match="loop.yaml: line 4: invalid YAML: the alias \\*s is used inside its own"):
        _import(str(tmp_path), "--project", "acme")


def test_yaml_nested_5000_deep_is_refused_naming_the_file(db, tmp_path):
    deep = "[" * 5000 + "]" * 5000
    (tmp_path / "deep.yaml").write_text(f"slug: deep\ntitle: Deep\nmodel_settings:\n  output_schema: {{a: {deep}}}\n")
    with pytest.raises(CommandError, match="deep.yaml: line 4: invalid YAML: values nest more than 64 levels deep"):
        _import(str(tmp_path), "--project", "acme")


def test_the_store_brings_its_knowledge_bases_for_the_templates_that_retrieve(db):
    from promptlib.knowledge.models import KnowledgeBase

    call_command("import_templates", "--project", "fresh", stdout=StringIO())
    template = Template.objects.get(project__slug="fresh", slug="support-reply")
    assert template.versions.get(number=1).retrieval["knowledge_base"] == "coffee-shop"
    assert KnowledgeBase.objects.get(project__slug="fresh", name="coffee-shop").snapshots.count() == 1
