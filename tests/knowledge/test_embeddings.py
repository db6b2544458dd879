"""Semantic and hybrid search through a provider's /v1/embeddings (the stand-in, through the openai
SDK), and the embedding run: progress, and only changed passages sent again."""

import pytest

from promptlib.knowledge.embeddings import matrices_clear
from promptlib.knowledge.errors import KnowledgeError
from promptlib.knowledge.indexing import knowledge_embed
from promptlib.knowledge.models import Chunk, KnowledgeBase
from promptlib.knowledge.search_sql import keyword_ids
from promptlib.knowledge.selectors import RRF_K, knowledge_search, rrf_fuse
from promptlib.knowledge.services import document_upload, knowledge_base_update, knowledge_publish
from promptlib.providers.models import ProviderConfig
from tests.knowledge.conftest import POLICIES


@pytest.fixture(autouse=True)
def _fresh_matrices():
    matrices_clear()
    yield
    matrices_clear()


@pytest.fixture
def embedded_kb(shop_kb, standin):
    provider = ProviderConfig.objects.create(
        project=shop_kb.project, name="local", kind="openai", base_url=standin.openai_base_url
    )
    knowledge_base_update(knowledge_base=shop_kb, embedding_provider=provider, embedding_model="embed-small")
    sent = knowledge_embed(knowledge_base_id=shop_kb.pk)
    assert sent == 5
    return shop_kb


def test_the_run_embeds_every_chunk_and_reports_progress(embedded_kb, standin):
    kb = KnowledgeBase.objects.get(pk=embedded_kb.pk)
    assert (kb.embed_status, kb.embed_done, kb.embed_total) == ("done", 5, 5)
    assert not Chunk.objects.filter(embedding__isnull=True).exists()
    assert set(Chunk.objects.values_list("embedding_model", flat=True)) == {"embed-small"}
    assert standin.stats()["embedding_inputs"] == 5


def test_a_reupload_sends_only_the_changed_passages(embedded_kb, standin, django_capture_on_commit_callbacks):
    changed = POLICIES.replace(b"30 days", b"14 days")
    with django_capture_on_commit_callbacks() as callbacks:
        document_upload(knowledge_base=embedded_kb, source="policies.md", data=changed, tags=["policy"])
    assert len(callbacks) == 1  # the embedding task is sent once the upload commits
    # "Shipping" has not changed: its vector is copied at upload.
    assert Chunk.objects.filter(embedding__isnull=True).count() == 1
    assert knowledge_embed(knowledge_base_id=embedded_kb.pk) == 1
    assert standin.stats()["embedding_inputs"] == 5 + 1
    assert knowledge_embed(knowledge_base_id=embedded_kb.pk) == 0


def test_semantic_search_ranks_by_cosine(embedded_kb):
    snapshot = knowledge_publish(knowledge_base=embedded_kb)
    found = knowledge_search(
        project_id=embedded_kb.project_id, snapshot_id=snapshot.pk, query="refund opened bag", mode="semantic", top_k=5
    )
    assert found[0].title == "Refunds"
    assert all(-1.0 <= c.score <= 1.0 for c in found)
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)


def test_semantic_search_filters_by_tag_and_threshold(embedded_kb):
    snapshot = knowledge_publish(knowledge_base=embedded_kb)
    options = {"project_id": embedded_kb.project_id, "snapshot_id": snapshot.pk, "mode": "semantic", "top_k": 10}
    assert {c.source for c in knowledge_search(query="price of coffee", tags=["policy"], **options)} == {"policies.md"}
    everything = knowledge_search(query="price of coffee", **options)
    cut = everything[2].score
    assert [c.id for c in knowledge_search(query="price of coffee", min_score=cut, **options)] == [
        c.id for c in everything if c.score >= cut
    ]


def test_hybrid_is_reciprocal_rank_fusion_of_both_lists(embedded_kb):
    snapshot = knowledge_publish(knowledge_base=embedded_kb)
    query = "Can I get a refund on coffee shipping?"
    pid = embedded_kb.project_id
    words = [c.id for c in knowledge_search(project_id=pid, snapshot_id=snapshot.pk, query=query, top_k=50)]
    meaning = [
        c.id for c in knowledge_search(project_id=pid, snapshot_id=snapshot.pk, query=query, top_k=50, mode="semantic")
    ]
    assert words and meaning
    by_hand: dict[int, float] = {}
    for ranked in (words, meaning):
        for position, chunk_id in enumerate(ranked):
            by_hand[chunk_id] = by_hand.get(chunk_id, 0.0) + 1 / (60 + position + 1)
    expected = sorted(by_hand.items(), key=lambda pair: (-pair[1], pair[0]))[:3]
    found = knowledge_search(project_id=pid, snapshot_id=snapshot.pk, query=query, top_k=3, mode="hybrid")
    assert [(c.id, round(c.score, 12)) for c in found] == [(i, round(s, 12)) for i, s in expected]


def test_rrf_by_hand():
    fused = rrf_fuse([10, 20, 30], [30, 10])
    assert RRF_K == 60
    assert fused == [(10, 1 / 61 + 1 / 62), (30, 1 / 63 + 1 / 61), (20, 1 / 62)]
    assert rrf_fuse([1, 2], [2, 1]) == [(1, 1 / 61 + 1 / 62), (2, 1 / 62 + 1 / 61)]  # ties break by id


def test_semantic_search_without_a_provider_says_what_to_do(shop_kb):
    snapshot = knowledge_publish(knowledge_base=shop_kb)
    with pytest.raises(KnowledgeError) as caught:
        knowledge_search(project_id=shop_kb.project_id, snapshot_id=snapshot.pk, query="refund", mode="semantic")
    assert caught.value.field == "mode" and "keyword" in caught.value.message
    assert keyword_ids(snapshot_id=snapshot.pk, query="refund", limit=1)


def test_a_failing_provider_marks_the_run_failed(embedded_kb, standin):
    document_upload(knowledge_base=embedded_kb, source="new.md", data=b"# New\n\nSomething else entirely.")
    standin.require_key("sk-other")  # every call now gets a 401
    with pytest.raises(KnowledgeError) as caught:
        knowledge_embed(knowledge_base_id=embedded_kb.pk)
    assert caught.value.field == "embedding_provider"
    kb = KnowledgeBase.objects.get(pk=embedded_kb.pk)
    assert kb.embed_status == "failed" and "401" in kb.embed_error


def test_a_snapshot_published_before_its_vectors_sees_them_once_the_run_ends(shop_kb, standin):
    provider = ProviderConfig.objects.create(
        project=shop_kb.project, name="local", kind="openai", base_url=standin.openai_base_url
    )
    knowledge_base_update(knowledge_base=shop_kb, embedding_provider=provider, embedding_model="embed-small")
    snapshot = knowledge_publish(knowledge_base=shop_kb)
    options = {"project_id": shop_kb.project_id, "snapshot_id": snapshot.pk, "query": "refund", "mode": "semantic"}
    assert knowledge_search(**options) == []  # nothing embedded yet
    knowledge_embed(knowledge_base_id=shop_kb.pk)
    assert knowledge_search(**options)[0].title == "Refunds"
