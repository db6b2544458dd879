import io

import pytest
from django.core.management import CommandError, call_command

from promptlib.core.apikeys import api_key_authenticate
from promptlib.core.models import ApiKey


def test_it_prints_a_working_key_for_the_project(acme):
    out = io.StringIO()
    call_command(
        "create_api_key",
        "--project",
        "acme",
        "--scopes",
        "read,write",
        "--name",
        "ci",
        stdout=out,
        stderr=io.StringIO(),
    )
    raw = out.getvalue().strip()
    record = api_key_authenticate(raw=raw)
    assert (record.project_id, record.scopes) == (acme.pk, ("read", "write"))
    assert ApiKey.objects.get().name == "ci"


def test_it_refuses_an_unknown_project(db):
    with pytest.raises(CommandError, match="No project with slug 'nope'"):
        call_command("create_api_key", "--project", "nope", stdout=io.StringIO())


def test_it_refuses_an_unknown_scope(acme):
    with pytest.raises(CommandError, match="Unknown scope 'root'"):
        call_command("create_api_key", "--project", "acme", "--scopes", "root", stdout=io.StringIO())
    assert not ApiKey.objects.exists()
