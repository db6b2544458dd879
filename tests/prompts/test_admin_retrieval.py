"""The template editor's knowledge-base box, its preview, and the playground showing what was retrieved."""

import json

import pytest

from promptlib.prompts.content import VersionContent
from promptlib.prompts.models import Template
from promptlib.prompts.services import template_create
from tests.admin_support import admin_url, change_url, editor_post
from tests.retrieval_support import support_content


@pytest.fixture
def edit(client, bob):
    client.force_login(bob)
    return client


def _add(client, project, content, slug="support-reply"):
    data = editor_post(content)
    data.update(project=project.pk, slug=slug, title="Support reply", description="", tags="")
    return client.post(admin_url("template_add"), data)


def test_the_editor_saves_a_knowledge_base_block_typed_in_plain_fields(edit, acme, coffee_kb):
    content = support_content(top_k=3, mode="hybrid", tags=["policy"], snapshot=1)
    response = _add(edit, acme, content)
    assert response.status_code == 302, response.context["adminform"].form.errors
    version = Template.objects.get(slug="support-reply").versions.get()
    assert version.retrieval == {
        "knowledge_base": "coffee-shop", "snapshot": 1, "label": "", "query": "{{ question }}", "top_k": 3,
        "mode": "hybrid", "tags": ["policy"], "min_score": None,
    }  # fmt: skip


def test_the_change_page_shows_the_block_and_saving_unchanged_keeps_it(edit, support):
    page = edit.get(change_url(support))
    form = page.context["adminform"].form
    assert (form.initial["retrieval_knowledge_base"], form.initial["retrieval_query"]) == (
        "coffee-shop",
        "{{ question }}",
    )
    assert b"Knowledge base" in page.content
    content = VersionContent.from_obj(support.versions.get())
    response = edit.post(change_url(support), editor_post(content, title=support.title, description="", tags=""))
    assert response.status_code == 302
    assert support.versions.count() == 1  # nothing changed: the block round-tripped through the form


def test_another_projects_knowledge_base_is_refused_on_its_field(client, gina, globex, coffee_kb):
    client.force_login(gina)
    response = _add(client, globex, support_content())
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["retrieval_knowledge_base"]
    assert "no knowledge base named 'coffee-shop'" in errors[0]
    assert not Template.objects.filter(project=globex).exists()


def test_a_bad_block_value_is_shown_next_to_its_field(edit, acme, coffee_kb):
    response = _add(edit, acme, support_content(query="{{ unknown }}"))
    assert response.status_code == 200
    assert "unknown" in response.context["adminform"].form.errors["retrieval_query"][0]


def test_the_preview_shows_the_passages_it_put_in_the_prompt(edit, support):
    data = editor_post(VersionContent.from_obj(support.versions.get()), **{"preview-question": "refund opened bag"})
    body = edit.post(admin_url("template_preview", support.pk), data).json()
    assert body["ok"] and body["passages"][0]["source"] == "policies.md"
    assert "Refunds (policies.md)" in body["messages"][-1]["content"]


def test_the_playground_shows_what_was_retrieved_before_the_answer(edit, acme, support, standin):
    config = standin.provider_config("openai", project=acme, name="standin", timeout_seconds=2, max_retries=0)
    config.save()
    data = editor_post(VersionContent.from_obj(support.versions.get()), **{"preview-question": "refund opened bag"})
    response = edit.post(admin_url("template_playground_run", support.pk),
                         {**data, "provider": str(config.pk), "model": "standin"})  # fmt: skip
    body = b"".join(response.streaming_content).decode()
    events = [json.loads(block.removeprefix("data: ")) for block in body.split("\n\n") if block.strip()]
    retrieved = events[0]
    assert retrieved["type"] == "retrieved" and retrieved["query"] == "refund opened bag"
    assert retrieved["passages"][0]["title"] == "Refunds" and "30 days" in retrieved["passages"][0]["text"]
    assert events[-1]["type"] == "done"
    sent = standin.stats()["bodies"][-1]["messages"][-1]["content"]
    assert f"[{retrieved['passages'][0]['id']}] Refunds (policies.md)" in sent


def test_a_template_without_knowledge_base_keeps_none(edit, acme):
    template = template_create(project=acme, slug="plain", title="Plain")
    response = edit.post(change_url(template), editor_post(VersionContent(task="Hi."), title="Plain", tags=""))
    assert response.status_code == 302
    assert template.versions.get().retrieval is None


def test_a_versions_page_says_what_it_retrieves(client, victor, support):
    client.force_login(victor)
    version = support.versions.get()
    body = client.get(admin_url("version_change", version.pk)).content.decode()
    assert "4 passages" not in body  # support_content asks for 2
    assert "2 passages from <strong>coffee-shop</strong>, label “latest”, matched by keyword" in body
    assert "<code>{{ question }}</code>" in body


def test_the_diff_shows_a_changed_knowledge_base_block(edit, support):
    from promptlib.prompts.services import version_create

    version_create(template=support, content=support_content(snapshot=1, top_k=3))
    parts = {p["name"]: p for p in edit.get(admin_url("template_diff", support.pk)).context["parts"]}
    assert parts["knowledge base"]["changed"] and not parts["context"]["changed"]
    table = parts["knowledge base"]["table"]
    assert "snapshot: " in table and "top_k: " in table and 'class="diff_chg"' in table
