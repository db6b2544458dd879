"""The template editor: create, save a version, no-op saves, form errors, diff, lists."""

import dataclasses

import pytest
from django.urls import reverse

from promptlib.prompts.content import VersionContent
from promptlib.prompts.models import Template, Version
from promptlib.prompts.services import label_move, template_create, version_create
from tests.admin_support import admin_url, change_url, editor_post


@pytest.fixture
def edit(client, bob):
    client.force_login(bob)
    return client


def _save(client, template, content, **extra):
    data = editor_post(content, title=template.title, description=template.description, **extra)
    data.setdefault("tags", ", ".join(template.tags))
    return client.post(change_url(template), data)


def _errors(response, field):
    return [str(e) for e in response.context["adminform"].form.errors.get(field, [])]


# --- create ------------------------------------------------------------------------------------


def test_it_creates_a_template_with_version_one(edit, acme, bob, welcome_content):
    data = editor_post(welcome_content, change_note="First draft")
    data.update(project=acme.pk, slug="promo", title="Promo mail", description="", tags="email, promo")
    response = edit.post(admin_url("template_add"), data)
    assert response.status_code == 302
    template = Template.objects.get(slug="promo")
    version = template.versions.get()
    assert (version.number, version.author, version.change_note) == (1, bob, "First draft")
    assert template.tags == ["email", "promo"]
    assert VersionContent.from_obj(version).content_hash() == welcome_content.content_hash()


def test_the_add_page_offers_only_projects_the_user_may_edit(client, bob, globex):
    client.force_login(bob)
    response = client.get(admin_url("template_add"))
    choices = [label for _, label in response.context["adminform"].form.fields["project"].choices]
    assert "Acme" in choices and "Globex" not in choices


def test_it_refuses_a_second_template_with_the_same_slug(edit, acme, welcome, welcome_content):
    data = editor_post(welcome_content)
    data.update(project=acme.pk, slug="welcome-email", title="Again", tags="")
    response = edit.post(admin_url("template_add"), data)
    assert response.status_code == 200
    assert Template.objects.filter(slug="welcome-email").count() == 1


# --- edit: a new version, never a mutation -------------------------------------------------------


def test_the_change_page_shows_the_latest_content(edit, welcome):
    version_create(
        template=welcome,
        content=dataclasses.replace(VersionContent.from_obj(welcome.versions.get()), task="Greet {{ name }}."),
    )
    response = edit.get(change_url(welcome))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.initial["task"] == "Greet {{ name }}."
    assert b"Greet {{ name }}." in response.content


def test_saving_changed_content_creates_the_next_version(edit, bob, welcome, welcome_content):
    changed = dataclasses.replace(welcome_content, task="Write a short welcome email to {{ name }}.")
    response = _save(edit, welcome, changed, change_note="Shorter")
    assert response.status_code == 302
    latest = welcome.versions.order_by("-number").first()
    assert (latest.number, latest.task, latest.change_note, latest.author) == (
        2,
        "Write a short welcome email to {{ name }}.",
        "Shorter",
        bob,
    )


def test_saving_leaves_the_previous_version_untouched(edit, welcome, welcome_content):
    before = welcome.versions.get()
    _save(edit, welcome, dataclasses.replace(welcome_content, role="You are terse."))
    after = Version.objects.get(pk=before.pk)
    assert (after.role, after.content_hash) == (before.role, before.content_hash)


def test_saving_identical_content_creates_no_version_and_says_so(edit, welcome, welcome_content):
    response = _save(edit, welcome, welcome_content, change_note="nothing")
    assert welcome.versions.count() == 1
    shown = [str(m) for m in response.wsgi_request._messages]
    assert any("no new version" in m and "version 1" in m for m in shown)


def test_changing_only_the_title_keeps_the_version(edit, welcome, welcome_content):
    data = editor_post(welcome_content, title="Welcome (new)", description="", tags="email")
    edit.post(change_url(welcome), data)
    welcome.refresh_from_db()
    assert (welcome.title, welcome.versions.count()) == ("Welcome (new)", 1)


def test_it_saves_examples_and_variables_from_table_rows(edit, welcome, welcome_content):
    content = dataclasses.replace(
        welcome_content,
        examples=[*welcome_content.examples, {"input": "Name: Bo", "output": "Hi Bo!"}],
        variables=[
            *welcome_content.variables,
            {"name": "tone", "type": "list", "required": False, "default": ["warm"], "description": "Tone words"},
        ],
    )
    _save(edit, welcome, content)
    latest = welcome.versions.order_by("-number").first()
    assert latest.examples[-1] == {"input": "Name: Bo", "output": "Hi Bo!"}
    assert latest.variables[-1]["default"] == ["warm"]


def test_ticking_delete_drops_an_example(edit, welcome, welcome_content):
    response = _save(edit, welcome, welcome_content, **{"examples-0-DELETE": "on"})
    assert response.status_code == 302
    assert welcome.versions.order_by("-number").first().examples == []


# --- errors on the right field ---------------------------------------------------------------


def test_it_shows_a_syntax_error_on_the_section_with_its_line(edit, welcome, welcome_content):
    response = _save(edit, welcome, dataclasses.replace(welcome_content, task="Hello\nWrite to {{ name }"))
    assert response.status_code == 200
    (message,) = _errors(response, "task")
    assert "Syntax error in task on line 2" in message
    assert welcome.versions.count() == 1


def test_it_rejects_an_undeclared_variable_in_its_section(edit, welcome, welcome_content):
    response = _save(edit, welcome, dataclasses.replace(welcome_content, context="Use code {{ coupon }}."))
    (message,) = _errors(response, "context")
    assert "coupon" in message and "not declared" in message


def test_it_rejects_an_output_schema_that_is_not_json(edit, welcome, welcome_content):
    data = editor_post(welcome_content, title="Welcome email", tags="email", output_schema='{"type": ')
    response = edit.post(change_url(welcome), data)
    (message,) = _errors(response, "output_schema")
    assert "not valid JSON" in message and "line 1" in message


def test_it_rejects_an_invalid_json_schema(edit, welcome, welcome_content):
    response = _save(edit, welcome, dataclasses.replace(welcome_content, output_schema={"type": "nonsense"}))
    (message,) = _errors(response, "output_schema")
    assert "not valid JSON Schema" in message


def test_it_puts_an_example_error_on_its_row(edit, welcome, welcome_content):
    examples = [{"input": "Name: {{ nobody }}", "output": "Hi"}]
    response = _save(edit, welcome, dataclasses.replace(welcome_content, examples=examples))
    row = response.context["adminform"].form.examples_formset.forms[0]
    assert "example 1 input" in row.errors["input"][0] and "nobody" in row.errors["input"][0]


def test_it_rejects_a_default_of_the_wrong_type(edit, welcome, welcome_content):
    response = _save(edit, welcome, welcome_content, **{"variables-2-default": "many"})
    row = response.context["adminform"].form.variables_formset.forms[2]
    assert "not a whole number" in row.errors["default"][0]
    assert welcome.versions.count() == 1


def test_it_rejects_a_duplicate_variable_name(edit, welcome, welcome_content):
    response = _save(edit, welcome, welcome_content, **{"variables-1-name": "brand"})
    row = response.context["adminform"].form.variables_formset.forms[1]
    assert "declared twice" in row.errors["name"][0]


# --- versions are read-only --------------------------------------------------------------------


def test_a_version_has_a_view_page(admin_client, welcome):
    version = welcome.versions.get()
    response = admin_client.get(admin_url("version_change", version.pk))
    assert response.status_code == 200
    assert b"Write a welcome email to" in response.content
    assert b'name="_save"' not in response.content


@pytest.mark.parametrize("page", ["version_add", "version_delete"])
def test_versions_cannot_be_added_or_deleted_in_the_admin(admin_client, welcome, page):
    args = [] if page == "version_add" else [welcome.versions.get().pk]
    assert admin_client.get(admin_url(page, *args)).status_code == 403


def test_posting_to_a_version_page_changes_nothing(admin_client, welcome):
    version = welcome.versions.get()
    response = admin_client.post(admin_url("version_change", version.pk), {"task": "Changed"})
    assert response.status_code == 403
    assert Version.objects.get(pk=version.pk).task == version.task


def test_the_template_page_lists_versions_with_author_note_and_labels(edit, alice, welcome, welcome_content):
    v2, _ = version_create(
        template=welcome,
        content=dataclasses.replace(welcome_content, task="T {{ name }}"),
        author=alice,
        change_note="Tighter task",
    )
    label_move(template=welcome, name="production", version=v2, actor=alice)
    response = edit.get(change_url(welcome))
    versions = response.context["versions"]
    assert [v.number for v in versions] == [2, 1]
    assert versions[0].label_names == ["production"]
    assert b"Tighter task" in response.content and b"alice" in response.content


# --- diff ----------------------------------------------------------------------------------------


def test_the_diff_marks_changed_and_unchanged_sections(edit, welcome, welcome_content):
    version_create(template=welcome, content=dataclasses.replace(welcome_content, task="Write a note to {{ name }}."))
    response = edit.get(admin_url("template_diff", welcome.pk) + "?a=1&b=2")
    parts = {p["name"]: p for p in response.context["parts"]}
    assert parts["task"]["changed"] and not parts["role"]["changed"]
    assert 'class="diff_chg"' in parts["task"]["table"] and "Version 1" in parts["task"]["table"]


def test_the_diff_compares_the_latest_with_its_previous_by_default(edit, welcome, welcome_content):
    version_create(template=welcome, content=dataclasses.replace(welcome_content, role="Be brief."))
    response = edit.get(admin_url("template_diff", welcome.pk))
    assert (response.context["a"].number, response.context["b"].number) == (1, 2)


def test_the_diff_answers_404_for_a_missing_version(edit, welcome):
    assert edit.get(admin_url("template_diff", welcome.pk) + "?a=1&b=9").status_code == 404


def test_the_diff_escapes_markup_in_prompts(edit, welcome, welcome_content):
    version_create(template=welcome, content=dataclasses.replace(welcome_content, task="<script>x</script>"))
    response = edit.get(admin_url("template_diff", welcome.pk))
    assert b"<script>x</script>" not in response.content


# --- lists -----------------------------------------------------------------------------------------


@pytest.fixture
def catalogue(acme, welcome, welcome_content):
    promo = template_create(project=acme, slug="spring-promo", title="Spring promo", tags=["promo"])
    version_create(template=promo, content=welcome_content)
    v2, _ = version_create(template=promo, content=dataclasses.replace(welcome_content, task="Sell {{ name }}."))
    label_move(template=promo, name="staging", version=v2)
    label_move(template=welcome, name="production", version=welcome.versions.get())
    return {"welcome": welcome, "promo": promo}


def _listed(response):
    return sorted(t.slug for t in response.context["cl"].result_list)


def test_the_list_shows_latest_and_production_versions(edit, catalogue):
    response = edit.get(admin_url("template_changelist"))
    rows = {t.slug: t for t in response.context["cl"].result_list}
    assert (rows["spring-promo"].latest_number, rows["spring-promo"].production_number) == (2, None)
    assert (rows["welcome-email"].latest_number, rows["welcome-email"].production_number) == (1, 1)


def test_the_list_searches_title_and_description(edit, catalogue):
    assert _listed(edit.get(admin_url("template_changelist") + "?q=spring")) == ["spring-promo"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [("tag=promo", ["spring-promo"]), ("label=production", ["welcome-email"]), ("label=staging", ["spring-promo"])],
)
def test_the_list_filters_by_tag_and_label(edit, catalogue, query, expected):
    assert _listed(edit.get(admin_url("template_changelist") + "?" + query)) == expected


def test_the_list_filters_by_project(admin_client, catalogue, globex, welcome_content):
    template_create(project=globex, slug="globex-hello", title="Hello")
    response = admin_client.get(admin_url("template_changelist") + f"?project={globex.pk}")
    assert _listed(response) == ["globex-hello"]


def test_the_list_runs_the_same_queries_for_more_templates(
    edit, catalogue, acme, welcome_content, django_assert_max_num_queries
):
    url = admin_url("template_changelist")
    edit.get(url)  # warm up (session, content types)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        edit.get(url)
    for i in range(5):
        template = template_create(project=acme, slug=f"extra-{i}", title=f"Extra {i}")
        version = version_create(template=template, content=welcome_content)[0]
        label_move(template=template, name="production", version=version)
    with django_assert_max_num_queries(len(few)):
        response = edit.get(url)
    assert len(response.context["cl"].result_list) == 7


def test_the_change_page_url_for_a_missing_template_redirects(edit):
    response = edit.get(reverse("admin:promptlib_template_change", args=[999999]))
    assert response.status_code == 302
