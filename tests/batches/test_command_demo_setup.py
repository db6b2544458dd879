import re
import stat
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from promptlib.core.models import Project
from promptlib.prompts.models import LabelEvent, Version


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path, monkeypatch):
    """A fresh VAR_DIR and no DEMO_ADMIN_PASSWORD unless a test sets one."""
    settings.VAR_DIR = tmp_path / "var"
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("PORT", raising=False)
    return settings.VAR_DIR


def _demo_setup() -> str:
    out = StringIO()
    call_command("demo_setup", stdout=out)
    return out.getvalue()


def _password(output: str) -> str:
    return re.search(r"password: (\S+)", output).group(1)


def test_it_prints_a_login_that_works(db, client):
    output = _demo_setup()
    assert "Log in at http://127.0.0.1:8000/admin/" in output
    assert "username: admin" in output
    assert client.login(username="admin", password=_password(output))


def test_it_imports_the_store_into_the_demo_project(db):
    _demo_setup()
    project = Project.objects.get(slug="demo")
    assert project.name == "Demo"
    assert project.templates.count() == 5
    assert all(t.labels.get(name="production").version.number == 1 for t in project.templates.all())


def test_it_is_idempotent(db):
    first = _demo_setup()
    counts = (Version.objects.count(), LabelEvent.objects.count(), get_user_model().objects.count())
    second = _demo_setup()
    assert _password(second) == _password(first)
    assert "5 unchanged" in second
    assert (Version.objects.count(), LabelEvent.objects.count(), get_user_model().objects.count()) == counts


def test_it_stores_the_generated_password_for_the_owner_only(db, var_dir):
    output = _demo_setup()
    path = var_dir / "demo-admin-password.txt"
    assert path.read_text().strip() == _password(output)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_it_uses_DEMO_ADMIN_PASSWORD_when_set(db, client, monkeypatch, var_dir):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "correct-horse-battery")
    output = _demo_setup()
    assert _password(output) == "correct-horse-battery"
    assert client.login(username="admin", password="correct-horse-battery")
    assert not (var_dir / "demo-admin-password.txt").exists()


def test_it_restores_the_printed_password_and_superuser_rights(db, client):
    _demo_setup()
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("changed")
    admin.is_superuser = False
    admin.save()
    output = _demo_setup()
    admin.refresh_from_db()
    assert admin.is_superuser and admin.is_staff
    assert client.login(username="admin", password=_password(output))


def test_the_printed_url_follows_the_port_variable(db, monkeypatch):
    monkeypatch.setenv("PORT", "8765")
    assert "Log in at http://127.0.0.1:8765/admin/" in _demo_setup()


def test_a_port_that_is_not_a_number_is_refused_before_any_setup(db, monkeypatch):
    from django.core.management.base import CommandError

    monkeypatch.setenv("PORT", "80; rm")
    with pytest.raises(CommandError, match="PORT must be a port number"):
        _demo_setup()
    assert not Project.objects.filter(slug="demo").exists()
