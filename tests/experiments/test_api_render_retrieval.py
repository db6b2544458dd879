"""The render endpoint for a version with a knowledge base: passages to cite, no query when warm."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from promptlib.knowledge.services import document_upload, knowledge_publish
from promptlib.prompts.services import label_move, template_create, version_create
from tests.retrieval_support import support_content

URL = "/api/v1/templates/support-reply/render"
ASK = {"label": "latest", "variables": {"question": "Can I get a refund for an opened bag?"}}


def test_the_render_returns_the_passages_with_ids_and_sources(support, acme_read_key, api_client):
    response = api_client(acme_read_key).post(URL, ASK, format="json")
    assert response.status_code == 200
    retrieval = response.json()["retrieval"]
    assert (retrieval["knowledge_base"], retrieval["query"]) == ("coffee-shop", ASK["variables"]["question"])
    first = retrieval["passages"][0]
    assert (first["title"], first["source"]) == ("Refunds", "policies.md")
    assert f"[{first['id']}] Refunds (policies.md)" in response.json()["messages"][-1]["content"]


def test_a_version_without_retrieval_returns_none(welcome, acme_read_key, api_client):
    response = api_client(acme_read_key).post(
        "/api/v1/templates/welcome-email/render", {"label": "latest", "variables": {"name": "A"}}, format="json"
    )
    assert response.json()["retrieval"] is None


@pytest.mark.parametrize("pinned", [False, True])
def test_a_warm_render_with_retrieval_makes_no_query(
    acme, coffee_kb, acme_read_key, api_client, django_assert_num_queries, pinned
):
    template = template_create(project=acme, slug="support-reply", title="Support reply")
    version_create(template=template, content=support_content(snapshot=1) if pinned else support_content())
    client = api_client(acme_read_key)
    client.post(URL, ASK, format="json")
    with django_assert_num_queries(0):
        response = client.post(URL, ASK, format="json")
    assert response.status_code == 200 and response.json()["retrieval"]["passages"]


def test_a_new_question_is_searched_once_then_cached(support, acme_read_key, api_client, django_assert_num_queries):
    client = api_client(acme_read_key)
    client.post(URL, ASK, format="json")
    other = {"label": "latest", "variables": {"question": "shipping to Germany"}}
    with CaptureQueriesContext(connection) as searched:
        client.post(URL, other, format="json")
    assert searched.captured_queries  # a new query is searched in the snapshot (already known: no lookup)
    assert not any("snapshotlabel" in q["sql"] for q in searched.captured_queries)
    with django_assert_num_queries(0):
        assert client.post(URL, other, format="json").json()["retrieval"]["passages"][0]["title"] == "Shipping"


@pytest.mark.django_db(transaction=True)
def test_a_publish_shows_in_the_next_render_of_a_version_following_latest(
    support, coffee_kb, acme_read_key, api_client
):
    client = api_client(acme_read_key)
    question = {"label": "latest", "variables": {"question": "espresso tenth free"}}
    assert "loyalty.md" not in [
        p["source"] for p in client.post(URL, question, format="json").json()["retrieval"]["passages"]
    ]
    document_upload(knowledge_base=coffee_kb, source="loyalty.md", data=b"# Loyalty\n\nEvery tenth espresso is free.")
    knowledge_publish(knowledge_base=coffee_kb)
    passages = client.post(URL, question, format="json").json()["retrieval"]["passages"]
    assert passages[0]["source"] == "loyalty.md"


def test_an_unpublished_knowledge_base_is_a_400_naming_it(acme, acme_read_key, api_client):
    from promptlib.knowledge.services import knowledge_base_create

    knowledge_base_create(project=acme, name="coffee-shop")
    template = template_create(project=acme, slug="support-reply", title="Support reply")
    label_move(
        template=template, name="production", version=version_create(template=template, content=support_content())[0]
    )
    response = api_client(acme_read_key).post(URL, {"variables": {"question": "x"}}, format="json")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["field"] == "retrieval.knowledge_base" and "no published snapshot" in error["message"]


def test_creating_a_version_on_another_projects_knowledge_base_is_a_400(coffee_kb, globex, globex_key, api_client):
    template_create(project=globex, slug="support-reply", title="Support reply")
    body = {**support_content().to_dict(), "retrieval": {"knowledge_base": "coffee-shop", "query": "{{ question }}"}}
    response = api_client(globex_key).post("/api/v1/templates/support-reply/versions", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "retrieval.knowledge_base"


def test_a_version_with_retrieval_is_created_and_read_back_through_the_api(coffee_kb, acme, acme_write_key, api_client):
    template_create(project=acme, slug="support-reply", title="Support reply")
    body = {
        **support_content().to_dict(),
        "retrieval": {"knowledge_base": "coffee-shop", "query": "{{ question }}", "snapshot": 1},
    }
    created = api_client(acme_write_key).post("/api/v1/templates/support-reply/versions", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["retrieval"] == {
        "knowledge_base": "coffee-shop",
        "snapshot": 1,
        "label": "",
        "query": "{{ question }}",
        "top_k": 4,
        "mode": "keyword",
        "tags": [],
        "min_score": None,
    }
