import pytest
from django.core.cache import cache

from promptlib.core.apikeys import (
    KEY_PATTERN,
    ApiKeyError,
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    key_hash,
)
from promptlib.core.models import ApiKey


def test_it_returns_the_full_key_once_and_stores_only_its_hash(acme):
    api_key, raw = api_key_create(project=acme, scopes="read")
    assert KEY_PATTERN.fullmatch(raw)
    assert raw.startswith(f"pl_{api_key.prefix}_")
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert stored.key_hash == key_hash(raw)
    assert raw.split("_")[2] not in str(stored.__dict__)


def test_write_includes_read(acme):
    api_key, _ = api_key_create(project=acme, scopes=["write"])
    assert api_key.scopes == ["read", "write"]


def test_it_refuses_an_unknown_scope(acme):
    with pytest.raises(ApiKeyError, match="Unknown scope 'admin'"):
        api_key_create(project=acme, scopes="read,admin")


def test_it_authenticates_a_key_to_its_project(acme):
    api_key, raw = api_key_create(project=acme, scopes="read")
    record = api_key_authenticate(raw=raw)
    assert (record.id, record.project_id, record.scopes) == (api_key.pk, acme.pk, ("read",))


def test_it_refuses_a_key_with_a_wrong_secret(acme):
    _, raw = api_key_create(project=acme, scopes="read")
    assert api_key_authenticate(raw=raw[:-1] + ("a" if raw[-1] != "a" else "b")) is None


def test_a_warm_lookup_needs_no_query(acme, django_assert_num_queries):
    _, raw = api_key_create(project=acme, scopes="read")
    api_key_authenticate(raw=raw)
    with django_assert_num_queries(0):
        assert api_key_authenticate(raw=raw) is not None


@pytest.mark.django_db(transaction=True)
def test_a_revoked_key_stops_working_at_once(acme):
    api_key, raw = api_key_create(project=acme, scopes="read")
    assert api_key_authenticate(raw=raw) is not None  # now cached
    api_key_revoke(api_key=api_key)
    assert api_key_authenticate(raw=raw) is None


def test_last_used_is_written_at_most_once_a_minute(acme):
    api_key, raw = api_key_create(project=acme, scopes="read")
    api_key_authenticate(raw=raw)
    first = ApiKey.objects.get(pk=api_key.pk).last_used_at
    api_key_authenticate(raw=raw)
    assert first is not None
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at == first
    cache.delete(f"apikey-used:{api_key.pk}")
    api_key_authenticate(raw=raw)
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at > first
