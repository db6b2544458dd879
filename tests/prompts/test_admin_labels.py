"""Labels on the template page: publish, roll back, remove, history; only publishers may."""

import dataclasses

import pytest

from promptlib.prompts.models import Label, LabelEvent
from promptlib.prompts.services import label_move, version_create
from tests.admin_support import admin_url, change_url


@pytest.fixture
def two_versions(welcome, welcome_content):
    version_create(template=welcome, content=dataclasses.replace(welcome_content, task="Greet {{ name }}."))
    return welcome


@pytest.fixture
def publisher(client, alice):
    client.force_login(alice)
    return client


def _labels(template):
    return dict(Label.objects.filter(template=template).values_list("name", "version__number"))


def _post(client, template, **data):
    return client.post(admin_url("template_labels", template.pk), data)


def test_a_publisher_publishes_a_version_to_production(publisher, alice, two_versions):
    response = _post(publisher, two_versions, action="move", name="production", version="2", note="launch")
    assert response.status_code == 302 and response["Location"].endswith("#labels")
    assert _labels(two_versions) == {"production": 2}
    event = LabelEvent.objects.get()
    assert (event.actor, event.via, event.note, event.to_version.number) == (alice, "admin", "launch", 2)


def test_a_publisher_rolls_a_label_back_to_an_older_version(publisher, two_versions):
    label_move(template=two_versions, name="production", version=two_versions.versions.get(number=2))
    _post(publisher, two_versions, action="move", name="production", version="1", confirmed="on")
    assert _labels(two_versions) == {"production": 1}


def test_rolling_back_first_says_which_version_applications_will_get(publisher, two_versions):
    label_move(template=two_versions, name="production", version=two_versions.versions.get(number=2))
    response = _post(publisher, two_versions, action="move", name="production", version="1")
    assert response.status_code == 200
    assert "will get version 1 instead of version 2" in response.context["consequence"]
    assert _labels(two_versions) == {"production": 2}


def test_removing_a_label_first_says_applications_will_get_an_error(publisher, two_versions):
    label_move(template=two_versions, name="production", version=two_versions.versions.get(number=2))
    response = _post(publisher, two_versions, action="remove", name="production")
    assert response.status_code == 200
    assert "Applications asking for “production” of “welcome-email” will get an error" in response.content.decode()
    assert b'name="confirmed" value="on"' in response.content
    assert _labels(two_versions) == {"production": 2}


def test_publishing_a_newer_version_needs_no_confirmation(publisher, two_versions):
    label_move(template=two_versions, name="production", version=two_versions.versions.get(number=1))
    response = _post(publisher, two_versions, action="move", name="production", version="2")
    assert response.status_code == 302
    assert _labels(two_versions) == {"production": 2}


def test_a_trailing_space_does_not_make_a_second_label(publisher, two_versions):
    label_move(template=two_versions, name="production", version=two_versions.versions.get(number=1))
    _post(publisher, two_versions, action="move", name="production ", version="2")
    assert _labels(two_versions) == {"production": 2}


def test_a_capitalised_label_name_is_refused_with_the_spelling_to_use(publisher, two_versions):
    response = _post(publisher, two_versions, action="move", name="Production", version="2")
    shown = [str(m) for m in response.wsgi_request._messages]
    assert len(shown) == 1 and shown[0].startswith("A label name uses lowercase letters")
    assert shown[0].endswith("— e.g. “production”.")
    assert _labels(two_versions) == {}


def test_the_page_offers_a_roll_back_to_the_previous_target(publisher, two_versions):
    label_move(template=two_versions, name="production", version=two_versions.versions.get(number=1))
    label_move(template=two_versions, name="production", version=two_versions.versions.get(number=2))
    response = publisher.get(change_url(two_versions))
    (label,) = response.context["labels"]
    assert label.rollback_to.number == 1
    assert b"Roll back to version 1" in response.content


def test_a_publisher_removes_a_label(publisher, two_versions):
    label_move(template=two_versions, name="staging", version=two_versions.versions.get(number=2))
    _post(publisher, two_versions, action="remove", name="staging", confirmed="on")
    assert _labels(two_versions) == {}
    assert LabelEvent.objects.filter(action="remove", label="staging").exists()


def test_removing_a_missing_label_says_so(publisher, two_versions):
    response = _post(publisher, two_versions, action="remove", name="staging")
    shown = [str(m) for m in response.wsgi_request._messages]
    assert shown == ["Template 'welcome-email' has no label 'staging'."]


def test_publishing_an_unknown_version_says_so(publisher, two_versions):
    response = _post(publisher, two_versions, action="move", name="production", version="7")
    assert [str(m) for m in response.wsgi_request._messages] == ["Choose a version of this template."]
    assert _labels(two_versions) == {}


def test_a_label_name_must_be_a_slug(publisher, two_versions):
    _post(publisher, two_versions, action="move", name="my label!", version="1")
    assert _labels(two_versions) == {}


def test_the_page_shows_label_history_with_who_and_from_where(publisher, alice, two_versions):
    label_move(template=two_versions, name="production", version=two_versions.versions.get(number=1), actor=alice)
    label_move(template=two_versions, name="production", version=two_versions.versions.get(number=2), actor=alice)
    response = publisher.get(change_url(two_versions))
    assert b"moved from version 1 to version 2" in response.content
    assert b"set to version 1" in response.content
    assert len(response.context["label_events"]) == 2


@pytest.mark.parametrize("persona", ["bob", "victor"])
def test_editors_and_viewers_cannot_move_labels(client, request, two_versions, persona):
    client.force_login(request.getfixturevalue(persona))
    response = _post(client, two_versions, action="move", name="production", version="2")
    assert response.status_code == 403
    assert _labels(two_versions) == {}


@pytest.mark.parametrize("persona", ["bob", "victor"])
def test_editors_and_viewers_cannot_remove_labels(client, request, two_versions, persona):
    label_move(template=two_versions, name="production", version=two_versions.versions.get(number=2))
    client.force_login(request.getfixturevalue(persona))
    assert _post(client, two_versions, action="remove", name="production").status_code == 403
    assert _labels(two_versions) == {"production": 2}


@pytest.mark.parametrize("persona", ["bob", "victor"])
def test_editors_and_viewers_do_not_see_label_controls(client, request, two_versions, persona):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(change_url(two_versions))
    assert response.context["can_publish"] is False
    assert b'id="publish-form"' not in response.content


def test_a_publisher_sees_the_publish_form(publisher, two_versions):
    assert b'id="publish-form"' in publisher.get(change_url(two_versions)).content


def test_a_superuser_may_publish(admin_client, two_versions):
    _post(admin_client, two_versions, action="move", name="staging", version="1")
    assert _labels(two_versions) == {"staging": 1}


def test_the_label_list_shows_where_labels_point(publisher, two_versions):
    label_move(template=two_versions, name="production", version=two_versions.versions.get(number=2))
    response = publisher.get(admin_url("label_changelist"))
    (label,) = response.context["cl"].result_list
    assert (label.name, label.version.number) == ("production", 2)
