"""The admin's home page, sidebar and change lists speak to marketers: grouped, ordered, explained."""

import pytest
from django.urls import reverse

from promptlib.admin.site import group_app_list

pytestmark = pytest.mark.django_db


def _html(client, user, url: str) -> str:
    client.force_login(user)
    return client.get(url).content.decode()


def _groups(client, user) -> list[dict]:
    client.force_login(user)
    return client.get(reverse("admin:index")).context["app_list"]


def test_the_home_page_lists_prompts_then_ab_tests_then_settings(client, bob):
    assert [group["name"] for group in _groups(client, bob)] == ["Prompts", "A/B tests", "Settings"]


def test_templates_come_first_on_the_home_page(client, bob):
    first = _groups(client, bob)[0]["models"][0]
    assert first["object_name"] == "Template"


def test_experiments_lead_the_ab_tests_group(client, bob):
    tests_group = _groups(client, bob)[1]
    assert [m["object_name"] for m in tests_group["models"]][:2] == ["Experiment", "Batch"]


def test_api_keys_and_projects_are_under_settings(client, bob):
    settings = _groups(client, bob)[2]
    assert {"ApiKey", "Project", "ProviderConfig"} <= {m["object_name"] for m in settings["models"]}


def test_each_model_on_the_home_page_says_what_it_is_for(client, bob):
    page = _html(client, bob, reverse("admin:index"))
    assert "Your prompts: write, preview, save versions and publish them." in page


def test_the_sidebar_uses_the_same_groups(client, bob, welcome):
    page = _html(client, bob, reverse("admin:promptlib_template_changelist"))
    assert page.index(">Prompts<") < page.index(">A/B tests<") < page.index(">Settings<")


def test_other_apps_follow_the_promptlib_groups_for_a_superuser(client, admin_user):
    names = [group["name"] for group in _groups(client, admin_user)]
    assert names[:3] == ["Prompts", "A/B tests", "Settings"] and len(names) > 3


def test_a_model_missing_from_the_groups_is_still_listed():
    app = {"app_label": "promptlib", "name": "Prompt library", "models": [{"object_name": "Template"},
                                                                           {"object_name": "Newcomer"}]}  # fmt: skip
    grouped = group_app_list([app])
    assert [m["object_name"] for g in grouped for m in g["models"]] == ["Template", "Newcomer"]


def test_the_home_page_has_no_view_site_link_to_nowhere(client, bob):
    assert "View site" not in _html(client, bob, reverse("admin:index"))


def test_the_app_page_breadcrumb_names_the_app_once(client, bob):
    page = _html(client, bob, reverse("admin:app_list", args=["promptlib"]))
    assert "&rsaquo; Prompt library</div>" in page


def test_a_change_list_is_titled_with_the_plural_name(client, bob, welcome):
    client.force_login(bob)
    response = client.get(reverse("admin:promptlib_template_changelist"))
    assert response.context["title"] == "Templates"


def test_an_empty_list_explains_how_to_make_the_first_one(client, bob):
    page = _html(client, bob, reverse("admin:promptlib_batch_changelist"))
    assert 'id="empty-help"' in page and "Start a batch" in page


def test_an_empty_api_key_list_says_what_keys_are_for(client, bob):
    page = _html(client, bob, reverse("admin:promptlib_apikey_changelist"))
    assert "Your applications send an API key to fetch prompts." in page


def test_a_list_with_rows_shows_the_rows_not_the_empty_help(client, bob, welcome):
    page = _html(client, bob, reverse("admin:promptlib_template_changelist"))
    assert 'id="empty-help"' not in page and welcome.slug in page


def test_a_search_without_results_keeps_the_stock_zero_results(client, bob, welcome):
    page = _html(client, bob, reverse("admin:promptlib_experiment_changelist") + "?q=nothing-like-this")
    assert 'id="empty-help"' not in page


def test_the_schedulers_internal_tables_are_hidden_from_non_superusers(client, bob, django_user_model):
    from django.contrib.auth.models import Permission

    bob.user_permissions.add(*Permission.objects.filter(content_type__app_label="django_celery_beat"))
    labels = {group["app_label"] for group in _groups(client, bob)}
    assert "django_celery_beat" not in labels
    assert client.get("/admin/django_celery_beat/clockedschedule/").status_code == 403


def test_a_superuser_still_reaches_the_schedulers_tables(client, admin_user):
    labels = {group["app_label"] for group in _groups(client, admin_user)}
    assert "django_celery_beat" in labels
