"""Vectors for chunks and queries, through the knowledge base's provider (POST /v1/embeddings).

Stored as a JSON list of floats on each chunk (unit length, so a dot product is the cosine), and
scanned with numpy (or, when PostgreSQL has pgvector, through an HNSW index on a copy of them:
promptlib.knowledge.vector_pg): a snapshot never changes, so its matrix is built once per process and kept,
keyed by the knowledge base's embedding progress (a finished run is seen at once) and for at most
MATRIX_SECONDS.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from promptlib.knowledge.errors import KnowledgeError
from promptlib.knowledge.models import Chunk, KnowledgeBase, SnapshotChunk
from promptlib.knowledge.vector_pg import (
    semantic_ids_pg,
    snapshot_synced,
    vector_available,
    vector_caches_clear,
    vector_ready,
)
from promptlib.providers import ProviderError, limiter_for, provider_for

MATRICES_KEPT = 8
MATRIX_SECONDS = 60
QUERIES_KEPT = 512

_lock = threading.Lock()
_matrices: OrderedDict[tuple, SnapshotMatrix] = OrderedDict()
_queries: OrderedDict[tuple, np.ndarray] = OrderedDict()


class SnapshotMatrix:
    """A snapshot's embedded chunks: ids, tags and one unit row per chunk."""

    def __init__(self, ids: np.ndarray, tags: list[frozenset[str]], matrix: np.ndarray) -> None:
        self.ids, self.tags, self.matrix = ids, tags, matrix
        self.built = time.monotonic()


def unit(vector) -> list[float]:
    array = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(array))
    if not np.isfinite(norm) or norm == 0.0:
        raise KnowledgeError("The provider returned an empty vector.", field="embedding_model")
    return (array / norm).tolist()


def embedding_check(knowledge_base: KnowledgeBase) -> None:
    if knowledge_base.embedding_provider_id is None or not knowledge_base.embedding_model:
        raise KnowledgeError(
            f"{knowledge_base.name} has no embedding provider and model: search it by keyword, or set them "
            "on the knowledge base and run the embedding.",
            field="mode",
        )


_spending = threading.local()


@dataclass
class EmbeddingSpend:
    """Input tokens of the embedding calls a search made, and where (provider config id, model)."""

    tokens: int = 0
    provider_id: int | None = None
    model: str = ""


@contextmanager
def embedding_spend() -> Iterator[EmbeddingSpend]:
    """What the embedding calls made inside cost (a query's vector; none when it was cached)."""
    spend, outer = EmbeddingSpend(), getattr(_spending, "spend", None)
    _spending.spend = spend
    try:
        yield spend
    finally:
        _spending.spend = outer


def texts_embed(knowledge_base: KnowledgeBase, texts: list[str]) -> tuple[list[list[float]], int]:
    """Unit vectors for `texts` from the knowledge base's provider, and the input tokens it cost."""
    embedding_check(knowledge_base)
    config = knowledge_base.embedding_provider
    try:
        provider = provider_for(config)
        with limiter_for(config):
            answer = provider.embed(model=knowledge_base.embedding_model, inputs=texts)
    except ProviderError as exc:
        raise KnowledgeError(f"The embedding provider failed: {exc}", field="embedding_provider", status=502)
    spend = getattr(_spending, "spend", None)
    if spend is not None:
        spend.tokens += answer.input_tokens
        spend.provider_id, spend.model = config.pk, knowledge_base.embedding_model
    return [unit(v) for v in answer.vectors], answer.input_tokens


def query_vector(knowledge_base: KnowledgeBase, query: str) -> np.ndarray:
    key = (knowledge_base.embedding_provider_id, knowledge_base.embedding_model, query)
    with _lock:
        vector = _queries.get(key)
        if vector is not None:
            _queries.move_to_end(key)
            return vector
    vectors, _ = texts_embed(knowledge_base, [query])
    vector = np.asarray(vectors[0], dtype=np.float32)
    with _lock:
        _queries[key] = vector
        while len(_queries) > QUERIES_KEPT:
            _queries.popitem(last=False)
    return vector


def snapshot_matrix(snapshot_id: int, knowledge_base: KnowledgeBase) -> SnapshotMatrix:
    model = knowledge_base.embedding_model
    members = Chunk.objects.filter(
        id__in=SnapshotChunk.objects.filter(snapshot_id=snapshot_id).values("chunk_id"),
        embedding_model=model,
        embedding__isnull=False,
    )
    kb = knowledge_base
    key = (snapshot_id, model, kb.embed_status, kb.embed_done, kb.embed_total)
    with _lock:
        found = _matrices.get(key)
        if found is not None and time.monotonic() - found.built < MATRIX_SECONDS:
            _matrices.move_to_end(key)
            return found
    rows = list(members.order_by("id").values_list("id", "tags", "embedding"))
    matrix = np.asarray([row[2] for row in rows], dtype=np.float32) if rows else np.zeros((0, 1), np.float32)
    found = SnapshotMatrix(
        np.asarray([row[0] for row in rows], dtype=np.int64), [frozenset(row[1] or ()) for row in rows], matrix
    )
    with _lock:
        _matrices[key] = found
        while len(_matrices) > MATRICES_KEPT:
            _matrices.popitem(last=False)
    return found


def semantic_ids(
    *, knowledge_base: KnowledgeBase, snapshot_id: int, query: str, limit: int, tags=()
) -> list[tuple[int, float]]:
    """(chunk id, cosine similarity) of the `limit` nearest embedded chunks of the snapshot."""
    embedding_check(knowledge_base)
    if not query.strip() or limit <= 0:
        return []
    if vector_available():
        vector = query_vector(knowledge_base, query)
        dimensions = int(vector.shape[0])
        state = (knowledge_base.embed_status, knowledge_base.embed_done, knowledge_base.embed_total)
        if vector_ready(dimensions) and snapshot_synced(
            snapshot_id=snapshot_id, model=knowledge_base.embedding_model, dimensions=dimensions, state=state
        ):
            return semantic_ids_pg(
                snapshot_id=snapshot_id, model=knowledge_base.embedding_model, vector=vector, limit=limit, tags=tags
            )
    found = snapshot_matrix(snapshot_id, knowledge_base)
    if not len(found.ids):
        return []
    vector = query_vector(knowledge_base, query)
    if vector.shape[0] != found.matrix.shape[1]:
        raise KnowledgeError(
            "The query's vector and the stored ones differ in size: run the embedding again.", field="embedding_model"
        )
    scores = found.matrix @ vector
    if tags:
        wanted = set(tags)
        mask = np.fromiter((bool(t & wanted) for t in found.tags), dtype=bool, count=len(found.tags))
        scores = np.where(mask, scores, -np.inf)
    count = min(limit, int(np.isfinite(scores).sum()))
    if count <= 0:
        return []
    best = np.argpartition(-scores, count - 1)[:count] if count < len(scores) else np.arange(len(scores))
    best = best[np.lexsort((found.ids[best], -scores[best]))]
    return [(int(found.ids[i]), float(scores[i])) for i in best if np.isfinite(scores[i])][:count]


def matrices_clear() -> None:
    with _lock:
        _matrices.clear()
        _queries.clear()
    vector_caches_clear()
