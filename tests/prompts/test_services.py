"""version_create: numbering, deduplication, immutability and concurrent saves."""

import threading

import pytest
from django.db import connection
from django.db.models import ProtectedError

from promptlib.prompts.content import VersionContent
from promptlib.prompts.models import ImmutableVersionError, Template, Version
from promptlib.prompts.rendering import PromptErrors
from promptlib.prompts.services import label_move, template_create, version_create


def _content(task: str) -> VersionContent:
    return VersionContent(task=task)


def test_it_numbers_versions_from_one(acme):
    template = template_create(project=acme, slug="t", title="T")
    first, _ = version_create(template=template, content=_content("one"))
    second, _ = version_create(template=template, content=_content("two"))
    assert (first.number, second.number) == (1, 2)


def test_it_numbers_each_template_on_its_own(acme, welcome):
    other = template_create(project=acme, slug="other", title="Other")
    version, _ = version_create(template=other, content=_content("x"))
    assert version.number == 1


def test_it_records_author_and_change_note(welcome, bob, welcome_content):
    version, created = version_create(
        template=welcome,
        content=VersionContent(**{**welcome_content.to_dict(), "task": "New"}),
        author=bob,
        change_note="shorter",
    )
    assert created
    assert (version.author, version.change_note) == (bob, "shorter")


def test_it_stores_the_content_it_was_given(welcome, welcome_content):
    version = welcome.versions.get()
    assert VersionContent.from_obj(version) == welcome_content.normalized()
    assert version.content_hash == welcome_content.content_hash()


def test_saving_the_same_content_creates_no_new_version(welcome, welcome_content):
    version, created = version_create(template=welcome, content=welcome_content, change_note="again")
    assert not created
    assert version.number == 1
    assert welcome.versions.count() == 1


def test_saving_content_differing_only_in_whitespace_creates_no_new_version(welcome, welcome_content):
    padded = VersionContent(**{**welcome_content.to_dict(), "task": welcome_content.task.replace(".", ".\r\n  ")})
    _, created = version_create(template=welcome, content=padded)
    assert not created


def test_saving_an_older_content_again_creates_a_new_version(acme):
    template = template_create(project=acme, slug="t", title="T")
    version_create(template=template, content=_content("one"))
    version_create(template=template, content=_content("two"))
    version, created = version_create(template=template, content=_content("one"))
    assert created
    assert version.number == 3


def test_it_refuses_invalid_content_and_saves_nothing(acme):
    template = template_create(project=acme, slug="t", title="T")
    with pytest.raises(PromptErrors):
        version_create(template=template, content=_content("{% if %}"))
    assert not Version.objects.filter(template=template).exists()


def test_it_invalidates_the_template_cache_on_commit(welcome, welcome_content, django_capture_on_commit_callbacks):
    from django.core.cache import cache

    from promptlib.core.caching import template_key

    key = template_key(project_id=welcome.project_id, slug=welcome.slug)
    cache.set(key, "stale")
    with django_capture_on_commit_callbacks(execute=True):
        version_create(template=welcome, content=_content("changed"))
    assert cache.get(key) is None


# --- immutability --------------------------------------------------------------------------------


def test_a_saved_version_cannot_be_saved_again(welcome):
    version = welcome.versions.get()
    version.task = "Changed"
    with pytest.raises(ImmutableVersionError):
        version.save()
    assert welcome.versions.get().task == "Write a welcome email to {{ name }}."


def test_versions_cannot_be_updated_in_bulk(welcome):
    with pytest.raises(ImmutableVersionError):
        Version.objects.filter(template=welcome).update(task="Changed")


def test_versions_cannot_be_bulk_updated(welcome):
    version = welcome.versions.get()
    version.task = "Changed"
    with pytest.raises(ImmutableVersionError):
        Version.objects.bulk_update([version], ["task"])


def test_versions_cannot_be_updated_or_created(welcome):
    with pytest.raises(ImmutableVersionError):
        Version.objects.update_or_create(template=welcome, number=1, defaults={"task": "Changed"})


def test_a_version_cannot_be_deleted(welcome):
    with pytest.raises(ImmutableVersionError):
        welcome.versions.get().delete()


def test_versions_cannot_be_deleted_in_bulk(welcome):
    with pytest.raises(ImmutableVersionError):
        Version.objects.filter(template=welcome).delete()
    assert welcome.versions.count() == 1


def test_deleting_a_template_deletes_its_versions(welcome):
    Template.objects.filter(pk=welcome.pk).delete()
    assert not Version.objects.exists()


def test_a_template_with_a_label_cannot_be_deleted(welcome):
    # Labels PROTECT their version: a template that is live somewhere is not deleted by accident.
    label_move(template=welcome, name="production", version=welcome.versions.get())
    with pytest.raises(ProtectedError):
        Template.objects.filter(pk=welcome.pk).delete()
    assert welcome.versions.count() == 1


# --- concurrency ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_get_distinct_consecutive_numbers(welcome):
    errors: list[BaseException] = []
    start = threading.Barrier(20)

    def save(index: int) -> None:
        try:
            start.wait()
            version_create(template=welcome, content=_content(f"Variant {index}"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    numbers = sorted(Version.objects.filter(template=welcome).values_list("number", flat=True))
    assert numbers == list(range(1, 22))
    tasks = set(Version.objects.filter(template=welcome, number__gt=1).values_list("task", flat=True))
    assert tasks == {f"Variant {i}" for i in range(20)}
