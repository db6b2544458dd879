"""Keyword search on the database's full text (SQLite FTS5 here, PostgreSQL's tsvector when DATABASE_URL
points at PostgreSQL: CI runs both), scoped to one snapshot, with tags, top_k and min_score."""

import pytest
from django.db import connection

from promptlib.knowledge.errors import KnowledgeError
from promptlib.knowledge.models import Document
from promptlib.knowledge.selectors import RetrievedChunk, knowledge_search, snapshot_resolve
from promptlib.knowledge.services import document_remove, document_upload, knowledge_publish


def _search(kb, query, **options):
    snapshot_id = snapshot_resolve(project_id=kb.project_id, knowledge_base=kb.name)
    return knowledge_search(project_id=kb.project_id, snapshot_id=snapshot_id, query=query, **options)


def test_it_finds_the_chunk_that_answers_a_long_question(shop_kb):
    knowledge_publish(knowledge_base=shop_kb)
    found = _search(shop_kb, "Hi, can I still get a refund for an opened bag of coffee I bought last week?")
    assert found and isinstance(found[0], RetrievedChunk)
    assert found[0].title == "Refunds"
    assert found[0].source == "policies.md"
    assert "store credit" in found[0].text
    assert found[0].tags == ("policy",)
    assert found[0].score > 0
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)


def test_it_stems_words_so_plurals_match(shop_kb):
    knowledge_publish(knowledge_base=shop_kb)
    found = _search(shop_kb, "parcel")
    assert [c.title for c in found] == ["Shipping"]


def test_it_finds_a_csv_row_by_its_values(shop_kb):
    knowledge_publish(knowledge_base=shop_kb)
    found = _search(shop_kb, "what does the Ethiopia coffee cost?", top_k=1)
    assert len(found) == 1
    assert found[0].title == "Ethiopia Yirgacheffe"
    assert "16.00 EUR" in found[0].text


def test_tags_filter_the_candidates(shop_kb):
    knowledge_publish(knowledge_base=shop_kb)
    assert {c.source for c in _search(shop_kb, "coffee roast refund", top_k=10)} == {"policies.md", "catalogue.csv"}
    assert {c.source for c in _search(shop_kb, "coffee roast refund", top_k=10, tags=["catalogue"])} == {
        "catalogue.csv"
    }
    assert _search(shop_kb, "coffee roast refund", tags=["unknown"]) == []


def test_top_k_and_min_score_bound_the_results(shop_kb):
    knowledge_publish(knowledge_base=shop_kb)
    everything = _search(shop_kb, "coffee roast refund shipping EUR", top_k=10)
    assert len(everything) >= 3
    assert len(_search(shop_kb, "coffee roast refund shipping EUR", top_k=2)) == 2
    cut = everything[1].score
    kept = _search(shop_kb, "coffee roast refund shipping EUR", top_k=10, min_score=cut)
    assert [c.id for c in kept] == [c.id for c in everything if c.score >= cut]
    assert len(kept) < len(everything)


def test_a_query_of_only_punctuation_or_stop_words_finds_nothing(shop_kb):
    knowledge_publish(knowledge_base=shop_kb)
    assert _search(shop_kb, "?!") == []
    assert _search(shop_kb, "the and of") == []


def test_query_syntax_is_taken_as_words(shop_kb):
    knowledge_publish(knowledge_base=shop_kb)
    found = _search(shop_kb, 'refund" OR NEAR( * ) -opened AND :title')
    assert found[0].title == "Refunds"


def test_search_sees_only_its_snapshot(shop_kb):
    first = knowledge_publish(knowledge_base=shop_kb)
    document_upload(knowledge_base=shop_kb, source="loyalty.md", data=b"# Loyalty\n\nEvery tenth espresso is free.")
    document_remove(document=Document.objects.get(knowledge_base=shop_kb, source="policies.md"))
    second = knowledge_publish(knowledge_base=shop_kb)
    pid = shop_kb.project_id
    assert knowledge_search(project_id=pid, snapshot_id=first.pk, query="espresso") == []
    assert [c.title for c in knowledge_search(project_id=pid, snapshot_id=second.pk, query="espresso")] == ["Loyalty"]
    assert [c.title for c in knowledge_search(project_id=pid, snapshot_id=first.pk, query="refund")] == ["Refunds"]
    assert knowledge_search(project_id=pid, snapshot_id=second.pk, query="refund") == []


def test_another_projects_snapshot_is_not_found(shop_kb, globex):
    snapshot = knowledge_publish(knowledge_base=shop_kb)
    with pytest.raises(KnowledgeError) as caught:
        knowledge_search(project_id=globex.pk, snapshot_id=snapshot.pk, query="refund")
    assert caught.value.field == "snapshot"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"mode": "fuzzy"}, "mode"),
        ({"top_k": 0}, "top_k"),
        ({"top_k": 500}, "top_k"),
        ({"min_score": "x"}, "min_score"),
    ],
)
def test_bad_options_name_their_field(shop_kb, options, field):
    snapshot = knowledge_publish(knowledge_base=shop_kb)
    with pytest.raises(KnowledgeError) as caught:
        knowledge_search(project_id=shop_kb.project_id, snapshot_id=snapshot.pk, query="refund", **options)
    assert caught.value.field == field


def test_the_full_text_index_exists_for_this_database(db):
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'promptlib_chunk'")
            triggers = {row[0] for row in cursor.fetchall()}
            assert triggers == {
                "promptlib_chunk_fts_insert",
                "promptlib_chunk_fts_delete",
                "promptlib_chunk_fts_update",
            }
        else:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'promptlib_chunk_search_gin'")
            assert "gin (search_vector)" in cursor.fetchone()[0]


def test_deleting_a_knowledge_base_empties_its_full_text_entries(shop_kb):
    knowledge_publish(knowledge_base=shop_kb)
    shop_kb.delete()
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM promptlib_chunk_fts WHERE promptlib_chunk_fts MATCH 'refund'")
            assert cursor.fetchone()[0] == 0
    from promptlib.knowledge.models import Chunk

    assert not Chunk.objects.exists()


def test_the_plan_ors_the_rarest_words_within_the_budget():
    from promptlib.knowledge.search_sql import SearchPlan, search_plan

    counts = {"coffee": 900.0, "refund": 40.0, "opened": 300.0, "bag": 2000.0}
    assert search_plan(counts, 10_000, budget=1000) == SearchPlan(["refund", "opened"], "or")
    assert search_plan(counts, 10_000, budget=10_000) == SearchPlan(["refund", "opened", "coffee", "bag"], "or")
    assert search_plan({"coffee": 9000.0}, 10_000, budget=10) == SearchPlan(["coffee"], "or")


def test_the_plan_ands_the_rarest_words_when_even_the_rarest_is_everywhere():
    from promptlib.knowledge.search_sql import SearchPlan, search_plan

    counts = {"coffee": 900.0, "refund": 40.0, "opened": 300.0, "bag": 2000.0}
    # refund alone: 40 > 10; refund and opened: 10,000 × 0.004 × 0.03 = 1.2 ≤ 10.
    assert search_plan(counts, 10_000, budget=10) == SearchPlan(["refund", "opened"], "and", fallback="refund")


def test_common_words_are_anded_and_the_rarest_fills_up(acme, monkeypatch):
    from promptlib.knowledge import search_sql
    from promptlib.knowledge.services import knowledge_base_create

    kb = knowledge_base_create(project=acme, name="common")
    for i in range(12):
        words = "coffee beans" if i < 3 else ("coffee" if i % 2 else "beans")
        document_upload(knowledge_base=kb, source=f"d{i}.md", data=f"# D{i}\n\nSome {words} here.".encode())
    snapshot = knowledge_publish(knowledge_base=kb)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE promptlib_chunk")
    search_sql.statistics_forget()
    monkeypatch.setattr(search_sql, "CANDIDATE_BUDGET", 3)
    found = knowledge_search(project_id=acme.pk, snapshot_id=snapshot.pk, query="coffee beans", top_k=3)
    assert sorted(c.source for c in found) == ["d0.md", "d1.md", "d2.md"]  # both words: the AND
    found = knowledge_search(project_id=acme.pk, snapshot_id=snapshot.pk, query="coffee beans", top_k=5)
    assert sorted(c.source for c in found)[:3] == ["d0.md", "d1.md", "d2.md"] and len(found) == 5
    search_sql.statistics_forget()


def test_a_word_in_most_chunks_does_not_select_candidates_past_the_budget(acme, monkeypatch):
    from promptlib.knowledge import search_sql
    from promptlib.knowledge.services import knowledge_base_create

    kb = knowledge_base_create(project=acme, name="many")
    rare = ["zebra", "walrus", "ocelot", "narwhal", "lemur", "koala", "ibis", "heron"]
    for i in range(40):
        extra = rare[i] if i < len(rare) else f"plain{i}"
        document_upload(
            knowledge_base=kb, source=f"d{i}.md", data=f"# D{i}\n\nThe coffee tastes good. {extra}".encode()
        )
    snapshot = knowledge_publish(knowledge_base=kb)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE promptlib_chunk")
    search_sql.statistics_forget()
    monkeypatch.setattr(search_sql, "CANDIDATE_BUDGET", 5)
    found = knowledge_search(project_id=acme.pk, snapshot_id=snapshot.pk, query="coffee with a walrus?", top_k=10)
    assert [c.source for c in found] == ["d1.md"]
    monkeypatch.setattr(search_sql, "CANDIDATE_BUDGET", 1000)
    found = knowledge_search(project_id=acme.pk, snapshot_id=snapshot.pk, query="coffee with a walrus?", top_k=10)
    assert len(found) == 10 and found[0].source == "d1.md"
    search_sql.statistics_forget()
