"""Labels: publish, roll back, remove, and the history of every move."""

import pytest
from django.core.cache import cache

from promptlib.core.caching import template_key
from promptlib.prompts.content import VersionContent
from promptlib.prompts.models import Label, LabelEvent
from promptlib.prompts.selectors import version_for_label
from promptlib.prompts.services import LabelError, label_move, label_remove, template_create, version_create


@pytest.fixture
def two_versions(welcome, welcome_content):
    second, _ = version_create(
        template=welcome, content=VersionContent(**{**welcome_content.to_dict(), "task": "Write to {{ name }}."})
    )
    return welcome.versions.get(number=1), second


def test_it_publishes_a_version(welcome, alice):
    version = welcome.versions.get()
    label_move(template=welcome, name="production", version=version, actor=alice)
    assert version_for_label(template=welcome, label="production") == version


def test_it_moves_a_label_to_a_newer_version(welcome, two_versions, alice):
    first, second = two_versions
    label_move(template=welcome, name="production", version=first, actor=alice)
    label_move(template=welcome, name="production", version=second, actor=alice)
    assert version_for_label(template=welcome, label="production") == second
    assert Label.objects.filter(template=welcome).count() == 1


def test_it_rolls_a_label_back(welcome, two_versions, alice):
    first, second = two_versions
    label_move(template=welcome, name="production", version=first, actor=alice)
    label_move(template=welcome, name="production", version=second, actor=alice)
    label_move(template=welcome, name="production", version=first, actor=alice, note="rollback")
    assert version_for_label(template=welcome, label="production") == first
    event = LabelEvent.objects.filter(template=welcome).first()
    assert (event.from_version, event.to_version, event.note) == (second, first, "rollback")


def test_it_records_who_when_from_to_and_via(welcome, two_versions, alice):
    first, second = two_versions
    label_move(template=welcome, name="staging", version=first, actor=alice, via="api")
    label_move(template=welcome, name="staging", version=second, actor=alice, via="admin")
    latest, earliest = LabelEvent.objects.filter(template=welcome)
    assert (earliest.label, earliest.action, earliest.from_version, earliest.to_version) == (
        "staging",
        LabelEvent.Action.MOVE,
        None,
        first,
    )
    assert (latest.from_version, latest.to_version, latest.actor, latest.via) == (first, second, alice, "admin")
    assert earliest.created_at <= latest.created_at


def test_moving_a_label_to_where_it_is_records_nothing(welcome):
    version = welcome.versions.get()
    label_move(template=welcome, name="production", version=version)
    label_move(template=welcome, name="production", version=version)
    assert LabelEvent.objects.filter(template=welcome).count() == 1


def test_it_refuses_a_version_of_another_template(acme, welcome):
    other = template_create(project=acme, slug="other", title="Other")
    foreign, _ = version_create(template=other, content=VersionContent(task="x"))
    with pytest.raises(LabelError) as err:
        label_move(template=welcome, name="production", version=foreign)
    assert err.value.field == "version"
    assert "does not belong to template 'welcome-email'" in err.value.message
    assert not Label.objects.exists()


def test_it_refuses_an_empty_label_name(welcome):
    with pytest.raises(LabelError) as err:
        label_move(template=welcome, name="  ", version=welcome.versions.get())
    assert err.value.field == "name"


def test_it_removes_a_label_and_records_it(welcome, alice):
    version = welcome.versions.get()
    label_move(template=welcome, name="production", version=version)
    label_remove(template=welcome, name="production", actor=alice, via="api", note="retired")
    assert version_for_label(template=welcome, label="production") is None
    event = LabelEvent.objects.filter(template=welcome).first()
    assert (event.action, event.from_version, event.to_version, event.actor, event.via, event.note) == (
        LabelEvent.Action.REMOVE,
        version,
        None,
        alice,
        "api",
        "retired",
    )


def test_removing_a_missing_label_is_refused(welcome):
    with pytest.raises(LabelError) as err:
        label_remove(template=welcome, name="production")
    assert err.value.field == "name"


def test_an_anonymous_actor_is_recorded_as_nobody(welcome):
    from django.contrib.auth.models import AnonymousUser

    label_move(template=welcome, name="production", version=welcome.versions.get(), actor=AnonymousUser())
    assert LabelEvent.objects.get().actor is None


def test_moving_a_label_invalidates_the_cache_on_commit(welcome, django_capture_on_commit_callbacks):
    key = template_key(project_id=welcome.project_id, slug=welcome.slug)
    cache.set(key, "stale")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        label_move(template=welcome, name="production", version=welcome.versions.get())
    assert cache.get(key) == "stale"  # nothing is dropped before the commit
    for callback in callbacks:
        callback()
    assert cache.get(key) is None


def test_removing_a_label_invalidates_the_cache_on_commit(welcome, django_capture_on_commit_callbacks):
    label_move(template=welcome, name="production", version=welcome.versions.get())
    key = template_key(project_id=welcome.project_id, slug=welcome.slug)
    cache.set(key, "stale")
    with django_capture_on_commit_callbacks(execute=True):
        label_remove(template=welcome, name="production")
    assert cache.get(key) is None


def test_it_refuses_a_label_name_with_capitals_or_spaces(welcome):
    version = welcome.versions.get()
    for name in ("Production", "pro duction", "-prod"):
        with pytest.raises(LabelError) as caught:
            label_move(template=welcome, name=name, version=version)
        assert caught.value.field == "name"
    assert not Label.objects.exists()


def test_it_strips_surrounding_spaces_so_production_stays_one_label(welcome):
    version = welcome.versions.get()
    label_move(template=welcome, name="production", version=version)
    label_move(template=welcome, name=" production ", version=version)
    assert list(Label.objects.values_list("name", flat=True)) == ["production"]


def test_it_refuses_a_name_that_reads_like_an_existing_label(welcome):
    version = welcome.versions.get()
    label_move(template=welcome, name="production", version=version)
    with pytest.raises(LabelError, match="reads the same as the existing label “production”") as caught:
        label_move(template=welcome, name="pro_duction", version=version)
    assert caught.value.code == "near_duplicate_label"
    assert Label.objects.count() == 1
