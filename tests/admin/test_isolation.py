"""A member of one project sees nothing of another; roles decide who may do what; every page loads."""

import pytest
from django.contrib import admin
from django.contrib.admin.sites import AdminSite
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse

from promptlib.core.models import Membership, Project, Role
from promptlib.prompts.models import Template
from promptlib.prompts.services import label_move, template_create, version_create
from tests.admin_support import admin_url, change_url


@pytest.fixture
def as_gina(client, gina, welcome):
    client.force_login(gina)
    return client


def _listed(response):
    return list(response.context["cl"].result_list)


# --- another project's objects are invisible -------------------------------------------------------


def test_the_template_list_shows_only_own_projects(as_gina, globex):
    template_create(project=globex, slug="globex-hello", title="Hello")
    response = as_gina.get(admin_url("template_changelist"))
    assert [t.slug for t in _listed(response)] == ["globex-hello"]


def test_a_guessed_template_url_answers_like_a_missing_one(as_gina, welcome):
    guessed = as_gina.get(change_url(welcome))
    missing = as_gina.get(admin_url("template_change", 987654))
    assert guessed.status_code == missing.status_code == 302
    assert guessed["Location"] == missing["Location"]


def test_a_guessed_version_url_answers_like_a_missing_one(as_gina, welcome):
    guessed = as_gina.get(admin_url("version_change", welcome.versions.get().pk))
    assert guessed.status_code == 302 and guessed["Location"] == reverse("admin:index")


@pytest.mark.parametrize(
    ("name", "method"), [("template_diff", "get"), ("template_preview", "post"), ("template_labels", "post")]
)
def test_custom_template_views_answer_404_for_another_project(as_gina, welcome, name, method):
    response = getattr(as_gina, method)(
        admin_url(name, welcome.pk), {"action": "move", "name": "production", "version": "1"}
    )
    assert response.status_code == 404
    assert not welcome.labels.exists()


def test_the_history_page_of_another_projects_template_is_hidden(as_gina, welcome):
    assert as_gina.get(admin_url("template_history", welcome.pk)).status_code == 302


def test_autocomplete_offers_only_own_templates(client, alice, gina, welcome):
    url = reverse("admin:autocomplete") + "?app_label=promptlib&model_name=label&field_name=template&term=wel"
    client.force_login(gina)
    assert client.get(url).json()["results"] == []
    client.force_login(alice)
    assert [r["text"] for r in client.get(url).json()["results"]] == ["welcome-email"]


def test_autocomplete_offers_only_own_versions(as_gina, welcome):
    url = reverse("admin:autocomplete") + "?app_label=promptlib&model_name=label&field_name=version&term=welcome"
    assert as_gina.get(url).json()["results"] == []


def test_list_filters_name_only_own_projects_tags_and_labels(as_gina, globex, welcome, welcome_content):
    label_move(template=welcome, name="production", version=welcome.versions.get())
    own = template_create(project=globex, slug="news", title="News", tags=["news"])
    label_move(template=own, name="staging", version=version_create(template=own, content=welcome_content)[0])
    response = as_gina.get(admin_url("template_changelist"))
    choices = {spec.title: [label for _, label in spec.lookup_choices] for spec in response.context["cl"].filter_specs}
    assert choices == {"project": ["Globex"], "tag": ["news"], "label": ["staging"]}


def test_the_project_list_shows_only_own_projects(as_gina, acme):
    assert [p.slug for p in _listed(as_gina.get(admin_url("project_changelist")))] == ["globex"]


def test_the_membership_list_shows_only_own_projects(as_gina, alice):
    assert [m.user.username for m in _listed(as_gina.get(admin_url("membership_changelist")))] == ["gina"]


def test_bulk_delete_skips_projects_where_one_is_only_a_viewer(client, gina, acme, welcome):
    Membership.objects.create(user=gina, project=acme, role=Role.VIEWER)
    client.force_login(gina)
    client.post(
        admin_url("template_changelist"),
        {"action": "delete_selected", "_selected_action": [welcome.pk], "post": "yes"},
    )
    assert Template.objects.filter(pk=welcome.pk).exists()


# --- roles -----------------------------------------------------------------------------------------


def test_a_viewer_sees_the_template_read_only(client, victor, welcome):
    client.force_login(victor)
    response = client.get(change_url(welcome))
    assert response.status_code == 200
    assert b'name="_save"' not in response.content
    assert b"Write a welcome email to" in response.content  # the latest content, read-only


def test_a_viewer_cannot_save_a_version(client, victor, welcome):
    client.force_login(victor)
    assert client.post(change_url(welcome), {"task": "x"}).status_code == 403
    assert welcome.versions.count() == 1


def test_a_viewer_cannot_add_templates(client, victor):
    client.force_login(victor)
    assert client.get(admin_url("template_add")).status_code == 403


def test_an_editor_cannot_delete_templates(client, bob, welcome):
    client.force_login(bob)
    assert client.get(admin_url("template_delete", welcome.pk)).status_code == 403


def test_members_cannot_create_projects(client, alice):
    client.force_login(alice)
    assert client.get(admin_url("project_add")).status_code == 403


def test_members_see_their_project_and_its_members_read_only(client, alice, bob, acme):
    client.force_login(alice)
    response = client.get(admin_url("project_change", acme.pk))
    assert response.status_code == 200
    assert b'name="_save"' not in response.content
    assert b"bob" in response.content


def test_a_superuser_creates_a_project_with_members(admin_client, alice):
    response = admin_client.post(
        admin_url("project_add"),
        {
            "name": "Initech",
            "slug": "initech",
            "description": "",
            "reviewer_hourly_usd": "0",  # the form's initial values, as a browser sends them
            "judge_kappa_min": "0.6",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-user": alice.pk,
            "memberships-0-role": Role.EDITOR,
        },
    )
    assert response.status_code == 302
    project = Project.objects.get(slug="initech")
    assert list(project.memberships.values_list("user__username", "role")) == [("alice", "editor")]


# --- every registered admin page loads --------------------------------------------------------------


def _pages(model_admin):
    info = model_admin.opts.app_label, model_admin.opts.model_name
    for page, needs in (("changelist", "view"), ("add", "add")):
        try:
            yield reverse(f"admin:{info[0]}_{info[1]}_{page}"), needs, None
        except NoReverseMatch:
            continue
    obj = model_admin.model._default_manager.order_by("pk").first()
    if obj is not None:
        yield reverse(f"admin:{info[0]}_{info[1]}_change", args=[obj.pk]), "view", obj


def _allowed(model_admin, user, needs, obj):
    request = RequestFactory().get("/")
    request.user = user
    if obj is not None and not model_admin.get_queryset(request).filter(pk=obj.pk).exists():
        return "hidden"
    if needs == "add":
        return model_admin.has_add_permission(request)
    return model_admin.has_view_or_change_permission(request, obj)


@pytest.mark.parametrize("persona", ["admin_user", "alice", "victor", "gina"])
def test_every_admin_page_loads(client, request, persona, alice, welcome):
    label_move(template=welcome, name="production", version=welcome.versions.get())
    user = request.getfixturevalue(persona)
    client.force_login(user)
    site: AdminSite = admin.site
    assert client.get(reverse("admin:index")).status_code == 200
    checked = 0
    for model_admin in site._registry.values():
        for url, needs, obj in _pages(model_admin):
            allowed = _allowed(model_admin, user, needs, obj)
            expected = {True: 200, False: 403, "hidden": 302}[allowed]
            assert client.get(url).status_code == expected, (persona, url)
            checked += 1
    assert checked >= 10
