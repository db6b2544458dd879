"""Semantic search with pgvector, when the PostgreSQL server has the `vector` extension.

The chunks' vectors stay in promptlib_chunk.embedding (JSON, the source of truth, and what SQLite and a
PostgreSQL without pgvector scan with numpy: promptlib.knowledge.embeddings). When the extension is
available, a copy lives in one side table per dimension, made on first use by the embedding run (not by
a migration: the dimension is only known once a model has answered, and the extension may be missing):

    promptlib_knowledge_chunk_vector_<n> (chunk_id bigint primary key → promptlib_chunk ON DELETE CASCADE,
                                          model text, embedding vector(<n>))   + HNSW (vector_cosine_ops)

Queries walk the HNSW index in distance order and keep the snapshot's chunks of the model (and tags):
with pgvector ≥ 0.8 through an iterative scan (hnsw.iterative_scan = relaxed_order), so a filter that
drops most rows still fills the top k; the few rows found are re-ordered exactly here. A snapshot some of
whose vectors are not in the side table yet (embedded before pgvector was installed: the knowledge base's
next embedding run copies them) is still scanned with numpy.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from django.db import connection, transaction

from promptlib.knowledge.errors import KnowledgeError

# HNSW indexes vectors of at most 2,000 dimensions; larger ones stay on the numpy scan.
MAX_DIMENSIONS = 2000
EF_SEARCH = 100  # candidates HNSW keeps while walking (pgvector's default is 40)
MAX_SCAN_TUPLES = 40_000  # how far an iterative scan goes before it gives up on a very selective filter

_lock = threading.Lock()
# Per database (connection alias + NAME): pgvector's version ("" when the extension is not available).
_versions: dict[tuple[str, str], str] = {}
# Side tables seen to exist, per database: a negative answer is never kept (the next run may make it).
_tables: set[tuple[str, str, int]] = set()
# Snapshots whose vectors are all in the side table (a negative answer is never kept).
_synced: OrderedDict[tuple, bool] = OrderedDict()
SYNCED_KEPT = 1024


def _database_key() -> tuple[str, str]:
    return connection.alias, str(connection.settings_dict.get("NAME"))


def table_name(dimensions: int) -> str:
    return f"promptlib_knowledge_chunk_vector_{int(dimensions)}"


def vector_version() -> str:
    """pgvector's version on this database ("" on SQLite or when the extension is not available); asked once
    per process and database."""
    if connection.vendor != "postgresql":
        return ""
    key = _database_key()
    with _lock:
        if key in _versions:
            return _versions[key]
    with connection.cursor() as cursor:
        cursor.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
        row = cursor.fetchone()
    version = row[0] if row else ""
    with _lock:
        _versions[key] = version
    return version


def vector_available() -> bool:
    return bool(vector_version())


def _iterative(version: str) -> bool:
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (0, 8)


def literal(vector: Sequence[float]) -> str:
    """pgvector's text form of a vector: [0.1,0.2,...]."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def vector_table_ensure(*, dimensions: int) -> str:
    """The side table for `dimensions`, made if missing (and the extension with it); its HNSW index is made
    by vector_index_ensure once rows are in (building it over the first rows at once is far quicker
    than inserting them one by one into an index)."""
    if not 1 <= dimensions <= MAX_DIMENSIONS:
        raise KnowledgeError(f"pgvector indexes at most {MAX_DIMENSIONS} dimensions.", field="embedding_model")
    table = table_name(dimensions)
    with transaction.atomic(), connection.cursor() as cursor:
        # Two embedding runs may make the table at once: one waits for the other.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [table])
        cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {table} ("
            " chunk_id bigint PRIMARY KEY REFERENCES promptlib_chunk (id) ON DELETE CASCADE,"
            f" model text NOT NULL, embedding vector({dimensions}) NOT NULL)"
        )
    with _lock:
        _tables.add((*_database_key(), dimensions))
    return table


def vector_index_ensure(*, dimensions: int) -> None:
    """The HNSW index (cosine distance) of the side table for `dimensions`, made if missing."""
    table = table_name(dimensions)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [table])
        cursor.execute(f"CREATE INDEX IF NOT EXISTS {table}_hnsw ON {table} USING hnsw (embedding vector_cosine_ops)")


def _table_exists(dimensions: int) -> bool:
    key = (*_database_key(), dimensions)
    with _lock:
        if key in _tables:
            return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [table_name(dimensions)])
        found = bool(cursor.fetchone()[0])
    if found:
        with _lock:
            _tables.add(key)
    return found


def vectors_sync(*, knowledge_base_id: int, model: str) -> int:
    """Copy the knowledge base's vectors of `model` (promptlib_chunk.embedding) that the side tables lack;
    returns how many rows were written. No-op without pgvector. One INSERT … SELECT per dimension."""
    if not vector_available() or not model:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT jsonb_array_length(embedding) FROM promptlib_chunk"
            " WHERE knowledge_base_id = %s AND embedding_model = %s AND embedding IS NOT NULL",
            [knowledge_base_id, model],
        )
        sizes = [row[0] for row in cursor.fetchall() if row[0] and row[0] <= MAX_DIMENSIONS]
    written = 0
    for dimensions in sizes:
        table = vector_table_ensure(dimensions=dimensions)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (chunk_id, model, embedding)"  # noqa: S608 (table name from an int)
                f" SELECT c.id, c.embedding_model, c.embedding::text::vector({dimensions}) FROM promptlib_chunk c"
                " WHERE c.knowledge_base_id = %s AND c.embedding_model = %s AND c.embedding IS NOT NULL"
                " AND jsonb_array_length(c.embedding) = %s"
                " ON CONFLICT (chunk_id) DO UPDATE SET model = EXCLUDED.model, embedding = EXCLUDED.embedding"
                f" WHERE {table}.model IS DISTINCT FROM EXCLUDED.model",
                [knowledge_base_id, model, dimensions],
            )
            written += max(cursor.rowcount, 0)
        vector_index_ensure(dimensions=dimensions)
    return written


def vector_ready(dimensions: int) -> bool:
    """Whether semantic search of vectors of this size goes through pgvector."""
    return 1 <= dimensions <= MAX_DIMENSIONS and vector_available() and _table_exists(dimensions)


def snapshot_synced(*, snapshot_id: int, model: str, dimensions: int, state: tuple = ()) -> bool:
    """Whether the side table holds every vector of `model` the snapshot's chunks have (not so for chunks
    embedded before pgvector was there, until the knowledge base's next embedding run). Asked once per
    process, snapshot and `state` (the knowledge base's embedding progress)."""
    key = (*_database_key(), snapshot_id, model, dimensions, state)
    with _lock:
        if key in _synced:
            _synced.move_to_end(key)
            return True
    table = table_name(dimensions)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM promptlib_snapshotchunk s"  # noqa: S608 (table name from an int)
            " JOIN promptlib_chunk c ON c.id = s.chunk_id AND c.embedding_model = %s AND c.embedding IS NOT NULL"
            f" LEFT JOIN {table} v ON v.chunk_id = s.chunk_id AND v.model = %s"
            " WHERE s.snapshot_id = %s AND v.chunk_id IS NULL",
            [model, model, snapshot_id],
        )
        missing = cursor.fetchone()[0]
    if missing:
        return False
    with _lock:
        _synced[key] = True
        while len(_synced) > SYNCED_KEPT:
            _synced.popitem(last=False)
    return True


def semantic_ids_pg(
    *, snapshot_id: int, model: str, vector: Sequence[float], limit: int, tags: Sequence[str] = ()
) -> list[tuple[int, float]]:
    """(chunk id, cosine similarity) of the `limit` nearest chunks of the snapshot embedded by `model` (and
    holding one of `tags`), best first, ties by id: the HNSW index, filtered while it is walked."""
    dimensions = len(vector)
    table = table_name(dimensions)
    tag_sql, tag_params = "", []
    if tags:
        ors = " OR ".join("c.tags_text LIKE %s" for _ in tags)
        tag_sql = f" AND EXISTS (SELECT 1 FROM promptlib_chunk c WHERE c.id = v.chunk_id AND ({ors}))"  # noqa: S608
        tag_params = [f"% {tag} %" for tag in tags]
    sql = (
        f"SELECT v.chunk_id, 1 - (v.embedding <=> %s::vector({dimensions})) FROM {table} v"  # noqa: S608
        " WHERE v.model = %s AND EXISTS (SELECT 1 FROM promptlib_snapshotchunk s"
        "  WHERE s.snapshot_id = %s AND s.chunk_id = v.chunk_id)"
        f"{tag_sql} ORDER BY v.embedding <=> %s::vector({dimensions}) LIMIT %s"
    )
    text = literal(vector)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL hnsw.ef_search = {max(EF_SEARCH, int(limit))}")
        if _iterative(vector_version()):
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            cursor.execute(f"SET LOCAL hnsw.max_scan_tuples = {MAX_SCAN_TUPLES}")
        cursor.execute(sql, [text, model, snapshot_id, *tag_params, text, int(limit)])
        rows = cursor.fetchall()
    found = sorted(((int(i), float(score)) for i, score in rows), key=lambda pair: (-pair[1], pair[0]))
    return found[:limit]


def vector_caches_clear() -> None:
    with _lock:
        _versions.clear()
        _tables.clear()
        _synced.clear()
