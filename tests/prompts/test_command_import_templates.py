import shutil
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import CommandError, call_command

from promptlib.core.models import Project
from promptlib.prompts.models import Label, LabelEvent, Template, Version

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
    assert "4 templates created, 0 updated, 4 new versions, 4 labels moved, 0 unchanged" in output
    labels = Label.objects.filter(template__project__slug="acme")
    assert {(label.name, label.version.number) for label in labels} == {("production", 1)}
    assert labels.count() == 4


def test_it_imports_into_an_existing_project(acme, store):
    _import(str(store), "--project", "acme")
    assert Template.objects.filter(project=acme).count() == 4


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
    assert "0 templates created, 0 updated, 0 new versions, 0 labels moved, 4 unchanged" in output
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
