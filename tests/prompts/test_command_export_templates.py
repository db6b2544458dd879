import os
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from promptlib.prompts.content import VersionContent
from promptlib.prompts.services import label_move, template_create, version_create
from promptlib.prompts.store import template_file_parse

STORE = Path(settings.BASE_DIR) / "templates_store"


def _export(project: str, path: Path) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("export_templates", str(path), "--project", project, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.glob("*.yaml"))}


@pytest.fixture
def welcome_published(welcome, welcome_content):
    """Welcome email with two versions: production on v2, staging left behind on v1."""
    first = welcome.versions.get(number=1)
    label_move(template=welcome, name="staging", version=first)
    second, _ = version_create(
        template=welcome, content=VersionContent(**{**welcome_content.to_dict(), "task": "Welcome {{ name }} ✨."})
    )
    label_move(template=welcome, name="production", version=second)
    return welcome


def test_it_writes_one_file_per_template_from_its_latest_version(welcome_published, tmp_path):
    output, _ = _export("acme", tmp_path)
    assert "1 files written, 0 unchanged" in output
    assert list(_files(tmp_path)) == ["welcome-email.yaml"]
    file = template_file_parse(path="welcome-email.yaml", text=(tmp_path / "welcome-email.yaml").read_text())
    assert file.content.task == "Welcome {{ name }} ✨."
    assert file.labels == ["production"]


def test_it_reports_labels_on_older_versions_and_leaves_them_out(welcome_published, tmp_path):
    _, notes = _export("acme", tmp_path)
    assert "welcome-email: label 'staging' points at v1, not the latest v2" in notes
    assert "staging" not in (tmp_path / "welcome-email.yaml").read_text()


def test_export_import_export_gives_identical_files(welcome_published, tmp_path):
    _export("acme", tmp_path / "first")
    call_command("import_templates", str(tmp_path / "first"), "--project", "copy", stdout=StringIO())
    _export("copy", tmp_path / "second")
    assert _files(tmp_path / "first") == _files(tmp_path / "second")


def test_the_shipped_store_round_trips_byte_for_byte(db, tmp_path):
    call_command("import_templates", str(STORE), "--project", "shipped", stdout=StringIO())
    _export("shipped", tmp_path)
    shipped = _files(STORE)
    assert len(shipped) == 5
    assert _files(tmp_path) == shipped


def test_it_leaves_unchanged_files_alone(welcome, tmp_path):
    _export("acme", tmp_path)
    target = tmp_path / "welcome-email.yaml"
    os.utime(target, (1_000_000, 1_000_000))
    output, _ = _export("acme", tmp_path)
    assert "0 files written, 1 unchanged" in output
    assert target.stat().st_mtime == 1_000_000


def test_it_exports_only_the_given_project(welcome, globex, tmp_path):
    other = template_create(project=globex, slug="globex-only", title="Globex only")
    version_create(template=other, content=VersionContent(task="Hi."))
    _export("acme", tmp_path)
    assert list(_files(tmp_path)) == ["welcome-email.yaml"]


def test_it_skips_templates_without_versions(acme, tmp_path):
    template_create(project=acme, slug="empty", title="Empty")
    output, notes = _export("acme", tmp_path)
    assert "empty: has no version yet; not exported." in notes
    assert _files(tmp_path) == {}


def test_it_rejects_an_unknown_project(db, tmp_path):
    with pytest.raises(CommandError, match="--project: there is no project 'nope'"):
        _export("nope", tmp_path)


def test_it_rejects_a_path_that_is_a_file(welcome, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(CommandError, match="is not a directory"):
        _export("acme", target)
