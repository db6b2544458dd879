"""A version's retrieval block: saved with the version, searched at render, passages as data."""

import pytest

from promptlib.knowledge.services import document_upload, knowledge_base_create, knowledge_publish
from promptlib.prompts.content import VersionContent
from promptlib.prompts.rendering import PromptErrors, render
from promptlib.prompts.retrieval import RetrievalError, prompt_build, retrieval_run
from promptlib.prompts.services import template_create, version_create
from tests.retrieval_support import support_content


def _build(template, question):
    return prompt_build(
        project_id=template.project_id,
        content=VersionContent.from_obj(template.versions.get(number=1)),
        variables={"question": question},
    )


def test_the_passages_fill_the_knowledge_variable(support):
    built = _build(support, "Can I get a refund for an opened bag?")
    context = built.prompt.messages[-1]["content"]
    first = built.retrieval.chunks[0]
    assert (first["title"], first["source"]) == ("Refunds", "policies.md")
    assert f"[{first['id']}] Refunds (policies.md): Unopened bags of coffee can be returned within 30 days" in context
    assert "knowledge" not in built.prompt.variables  # what the caller gave, not the passages


def test_the_render_returns_what_it_retrieved_for_citing(support):
    built = _build(support, "refund opened bag")
    assert built.retrieval.knowledge_base == "coffee-shop"
    assert built.retrieval.query == "refund opened bag"
    assert [c["source"] for c in built.retrieval.citations()][0] == "policies.md"
    assert set(built.retrieval.citations()[0]) == {"id", "title", "source", "score"}


def test_retrieved_text_is_data_never_jinja(support):
    built = _build(support, "mug template tricks side")
    context = built.prompt.messages[-1]["content"]
    assert "Our mug reads {{ 7*7 }} and {% for x in range(3) %}loop{% endfor %} on the side" in context
    assert "49" not in context and "looploop" not in context
    assert "{{ knowledge }} too" in context


def test_the_query_is_a_sandboxed_template_over_the_variables(support):
    content = support_content(query="{{ question | upper }} refund")
    assert retrieval_run(project_id=support.project_id, content=content, variables={"question": "opened"}).query == (
        "OPENED refund"
    )


def test_a_pinned_snapshot_keeps_its_passages_after_a_new_publish(acme, coffee_kb):
    pinned = support_content(snapshot=1)
    before = retrieval_run(project_id=acme.pk, content=pinned, variables={"question": "espresso free tenth"})
    document_upload(knowledge_base=coffee_kb, source="loyalty.md", data=b"# Loyalty\n\nEvery tenth espresso is free.")
    knowledge_publish(knowledge_base=coffee_kb)
    after = retrieval_run(project_id=acme.pk, content=pinned, variables={"question": "espresso free tenth"})
    latest = retrieval_run(project_id=acme.pk, content=support_content(), variables={"question": "espresso free tenth"})
    assert "loyalty.md" not in [c["source"] for c in before.chunks + after.chunks]
    assert latest.chunks[0]["source"] == "loyalty.md"


def test_a_version_cannot_use_another_projects_knowledge_base(globex, coffee_kb):
    template = template_create(project=globex, slug="support-reply", title="Support reply")
    with pytest.raises(RetrievalError) as caught:
        version_create(template=template, content=support_content())
    assert caught.value.field == "retrieval.knowledge_base"
    assert "no knowledge base named 'coffee-shop'" in caught.value.message
    assert not template.versions.exists()


def test_its_own_knowledge_base_of_the_same_name_is_the_one_searched(globex, coffee_kb):
    own = knowledge_base_create(project=globex, name="coffee-shop")
    document_upload(knowledge_base=own, source="globex.md", data=b"# Globex\n\nRefunds only on Tuesdays.")
    knowledge_publish(knowledge_base=own)
    found = retrieval_run(project_id=globex.pk, content=support_content(), variables={"question": "refund"})
    assert [c["source"] for c in found.chunks] == ["globex.md"]


def test_a_pinned_snapshot_that_does_not_exist_is_refused_when_saving(acme, coffee_kb):
    template = template_create(project=acme, slug="support-reply", title="Support reply")
    with pytest.raises(RetrievalError) as caught:
        version_create(template=template, content=support_content(snapshot=7))
    assert caught.value.field == "retrieval.snapshot"


def test_an_unpublished_knowledge_base_can_be_followed_and_says_so_at_render(acme):
    knowledge_base_create(project=acme, name="coffee-shop")
    template = template_create(project=acme, slug="support-reply", title="Support reply")
    version, created = version_create(template=template, content=support_content())
    assert created
    with pytest.raises(RetrievalError, match="no published snapshot yet"):
        retrieval_run(project_id=acme.pk, content=VersionContent.from_obj(version), variables={"question": "x"})


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ({"knowledge_base": ""}, "retrieval.knowledge_base"),
        ({"top_k": 0}, "retrieval.top_k"),
        ({"top_k": 99}, "retrieval.top_k"),
        ({"mode": "magic"}, "retrieval.mode"),
        ({"query": ""}, "retrieval.query"),
        ({"query": "{{ nope }}"}, "retrieval.query"),
        ({"query": "{{ knowledge }}"}, "retrieval.query"),
        ({"snapshot": 0}, "retrieval.snapshot"),
    ],
)
def test_a_bad_retrieval_block_names_its_field(acme, coffee_kb, block, field):
    template = template_create(project=acme, slug="support-reply", title="Support reply")
    with pytest.raises(PromptErrors) as caught:
        version_create(template=template, content=support_content(**block))
    assert field in [e.field for e in caught.value.errors]


def test_the_knowledge_variable_needs_a_retrieval_block(acme):
    template = template_create(project=acme, slug="plain", title="Plain")
    content = VersionContent(context="{% for k in knowledge %}{{ k.text }}{% endfor %}")
    with pytest.raises(PromptErrors, match="knowledge"):
        version_create(template=template, content=content)


def test_a_declared_variable_named_knowledge_is_refused_with_retrieval(acme, coffee_kb):
    template = template_create(project=acme, slug="support-reply", title="Support reply")
    content = support_content()
    content = VersionContent(**{**content.to_dict(), "variables": [*content.variables, {"name": "knowledge"}]})
    with pytest.raises(PromptErrors, match="holds the retrieved passages"):
        version_create(template=template, content=content)


def test_the_retrieval_block_is_part_of_the_version(acme, coffee_kb):
    template = template_create(project=acme, slug="support-reply", title="Support reply")
    first, _ = version_create(template=template, content=support_content())
    again, created = version_create(template=template, content=support_content())
    assert (again.pk, created) == (first.pk, False)
    pinned, created = version_create(template=template, content=support_content(snapshot=1))
    assert created and pinned.number == 2
    assert pinned.retrieval["snapshot"] == 1 and pinned.retrieval["label"] == ""
    assert first.retrieval["label"] == "latest" and first.retrieval["mode"] == "keyword"


def test_versions_without_retrieval_keep_their_hash():
    # The hash of this content before retrieval existed (no "retrieval" key in the canonical JSON).
    content = VersionContent(task="Hi {{ name }}", variables=[{"name": "name"}])
    assert content.content_hash() == "60b1cb6657d8d70bd065ae001b98058f51dc2a7afb1e98efa17dd2cb3ca9f183"


def test_render_without_passages_gives_an_empty_knowledge_list():
    content = support_content()
    rendered = render(content, {"question": "x"})
    assert rendered.messages[-1]["content"] == "## Task\nAnswer: x"


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
def test_meaning_based_modes_retrieve_and_stay_warm_without_queries(acme, coffee_kb, mode, django_assert_num_queries):
    from promptlib.knowledge.indexing import knowledge_embed
    from promptlib.knowledge.services import knowledge_base_update
    from promptlib.providers.models import ProviderConfig

    demo = ProviderConfig.objects.create(project=acme, name="demo", kind="demo", models=["demo"])
    knowledge_base_update(knowledge_base=coffee_kb, embedding_provider=demo, embedding_model="demo-embed")
    knowledge_embed(knowledge_base_id=coffee_kb.pk)
    content = support_content(mode=mode)
    found = retrieval_run(project_id=acme.pk, content=content, variables={"question": "refund for opened bags"})
    assert found.chunks[0]["source"] == "policies.md"
    with django_assert_num_queries(0):
        again = retrieval_run(project_id=acme.pk, content=content, variables={"question": "refund for opened bags"})
    assert again.chunks == found.chunks
