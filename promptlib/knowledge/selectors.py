"""Reads of knowledge bases: which snapshot a name means, and searching one.

    snapshot_id = snapshot_resolve(project_id=p, knowledge_base="shop-policies")            # label latest
    snapshot_id = snapshot_resolve(project_id=p, knowledge_base="shop-policies", snapshot=3)  # pinned
    chunks = knowledge_search(project_id=p, snapshot_id=snapshot_id, query="refund after 30 days?")

Modes: "keyword" (the database's full text: promptlib.knowledge.search_sql), "semantic" (cosine of
the provider's embeddings: promptlib.knowledge.embeddings) and "hybrid" (reciprocal rank fusion of
both, k = 60: each chunk scores the sum of 1 / (60 + its rank) over the lists it is in).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection
from django.db.models import QuerySet

from promptlib.knowledge.embeddings import matrices_clear, semantic_ids
from promptlib.knowledge.errors import KnowledgeError
from promptlib.knowledge.models import Document, KnowledgeBase, Snapshot, SnapshotLabel
from promptlib.knowledge.search_sql import keyword_ids, statistics_forget

MODES = ("keyword", "semantic", "hybrid")
RRF_K = 60
MAX_TOP_K = 50
# Hybrid fuses this many candidates of each list (at least), so a chunk second in one list and absent
# from the other's first top_k still counts.
HYBRID_CANDIDATES = 50


@dataclass(frozen=True)
class RetrievedChunk:
    id: int
    title: str
    source: str
    text: str
    score: float
    document_id: int
    tags: tuple[str, ...]


def knowledge_bases_list(*, project_id: int) -> QuerySet[KnowledgeBase]:
    return KnowledgeBase.objects.filter(project_id=project_id).order_by("name")


def knowledge_base_get(*, project_id: int, name: str) -> KnowledgeBase:
    found = KnowledgeBase.objects.filter(project_id=project_id, name=name).first()
    if found is None:
        raise KnowledgeError(f"No knowledge base named {name!r} in this project.", code="not_found", status=404)
    return found


def documents_current(*, knowledge_base: KnowledgeBase) -> QuerySet[Document]:
    return knowledge_base.documents.filter(is_current=True).order_by("source")


def snapshot_resolve(
    *, project_id: int, knowledge_base: str, snapshot: int | None = None, label: str = "latest"
) -> int:
    """The pk of snapshot number `snapshot` of the project's knowledge base `knowledge_base`, or (no
    number) of the snapshot `label` names. KnowledgeError naming the field that is unknown."""
    kbs = KnowledgeBase.objects.filter(project_id=project_id, name=knowledge_base)
    kb_id = kbs.values_list("id", flat=True).first()
    if kb_id is None:
        raise KnowledgeError(
            f"No knowledge base named {knowledge_base!r} in this project.", field="knowledge_base", code="not_found"
        )
    if snapshot is not None:
        found = Snapshot.objects.filter(knowledge_base_id=kb_id, number=snapshot).values_list("id", flat=True).first()
        if found is None:
            raise KnowledgeError(f"{knowledge_base} has no snapshot {snapshot}.", field="snapshot", code="not_found")
        return found
    labels = SnapshotLabel.objects.filter(knowledge_base_id=kb_id, name=label)
    found = labels.values_list("snapshot_id", flat=True).first()
    if found is None:
        if label == "latest":
            message = f"{knowledge_base} has no published snapshot yet: publish it first."
        else:
            message = f"{knowledge_base} has no label {label!r}."
        raise KnowledgeError(message, field="label", code="not_found")
    return found


def _options_check(mode: str, top_k: int, min_score: float | None) -> None:
    if mode not in MODES:
        raise KnowledgeError(f"Search mode must be one of: {', '.join(MODES)}.", field="mode")
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
        raise KnowledgeError(f"top_k must be a whole number from 1 to {MAX_TOP_K}.", field="top_k")
    if min_score is not None and not isinstance(min_score, int | float):
        raise KnowledgeError("min_score must be a number.", field="min_score")


def rrf_fuse(*ranked_lists: Sequence[int], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: each id scores the sum of 1 / (k + rank) (rank from 1) over the lists."""
    scores: dict[int, float] = {}
    for ranked in ranked_lists:
        for rank, item in enumerate(ranked, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


def knowledge_search(
    *,
    project_id: int,
    snapshot_id: int,
    query: str,
    top_k: int = 4,
    mode: str = "keyword",
    tags: Sequence[str] = (),
    min_score: float | None = None,
) -> list[RetrievedChunk]:
    """The `top_k` chunks of the snapshot best matching `query`, best first, each scoring at least
    `min_score` (keyword: ts_rank on PostgreSQL, -bm25 on SQLite; semantic: cosine; hybrid: RRF), and
    holding one of `tags` when given. The snapshot must belong to the project (else "not found")."""
    _options_check(mode, top_k, min_score)
    tags = tuple(str(t) for t in tags)
    kb_id = _snapshot_owner(snapshot_id, project_id)
    if mode == "keyword":
        scored = keyword_ids(snapshot_id=snapshot_id, query=query, limit=top_k, tags=tags)
    else:
        knowledge_base = KnowledgeBase.objects.select_related("embedding_provider").get(id=kb_id)
        if mode == "semantic":
            scored = semantic_ids(
                knowledge_base=knowledge_base, snapshot_id=snapshot_id, query=query, limit=top_k, tags=tags
            )
        else:
            depth = max(top_k, HYBRID_CANDIDATES)
            by_words = keyword_ids(snapshot_id=snapshot_id, query=query, limit=depth, tags=tags)
            by_meaning = semantic_ids(
                knowledge_base=knowledge_base, snapshot_id=snapshot_id, query=query, limit=depth, tags=tags
            )
            scored = rrf_fuse([i for i, _ in by_words], [i for i, _ in by_meaning])[:top_k]
    if min_score is not None:
        scored = [(i, s) for i, s in scored if s >= min_score]
    return chunks_load(scored)


# A snapshot's knowledge base and project never change: (snapshot id, project id) → knowledge base id.
_owners: OrderedDict[tuple[int, int], int] = OrderedDict()
_owners_lock = threading.Lock()
OWNERS_KEPT = 10_000


def _snapshot_owner(snapshot_id: int, project_id: int) -> int:
    """The knowledge base of a snapshot of this project; KnowledgeError "not found" otherwise."""
    key = (snapshot_id, project_id)
    with _owners_lock:
        found = _owners.get(key)
    if found is not None:
        return found
    found = (
        Snapshot.objects.filter(id=snapshot_id, knowledge_base__project_id=project_id)
        .values_list("knowledge_base_id", flat=True)
        .first()
    )
    if found is None:
        raise KnowledgeError("No such snapshot in this project.", field="snapshot", code="not_found")
    with _owners_lock:
        _owners[key] = found
        while len(_owners) > OWNERS_KEPT:
            _owners.popitem(last=False)
    return found


def knowledge_caches_clear() -> None:
    """Forget what this process keeps about snapshots and word statistics (tests: ids come back after a
    rollback on SQLite)."""
    with _owners_lock:
        _owners.clear()
    statistics_forget()
    matrices_clear()


def chunks_load(scored: Sequence[tuple[int, float]]) -> list[RetrievedChunk]:
    """RetrievedChunks for (chunk id, score) pairs, in the same order (one plain SQL read)."""
    if not scored:
        return []
    ids = [i for i, _ in scored]
    marks = ", ".join("%s" for _ in ids)
    with connection.cursor() as cursor:
        sql = f"""
            SELECT c.id, c.title, c.text, c.tags, c.document_id, d.source
            FROM promptlib_chunk c JOIN promptlib_document d ON d.id = c.document_id
            WHERE c.id IN ({marks})
        """  # noqa: S608 (only placeholders are interpolated)
        cursor.execute(sql, ids)
        rows = {row[0]: row for row in cursor.fetchall()}
    found = []
    for i, score in scored:
        if i in rows:
            _, title, text, tags, document_id, source = rows[i]
            tags = json.loads(tags) if isinstance(tags, str) else tags
            found.append(
                RetrievedChunk(
                    id=i,
                    title=title,
                    source=source,
                    text=text,
                    score=score,
                    document_id=document_id,
                    tags=tuple(tags or ()),
                )  # fmt: skip
            )
    return found


@dataclass(frozen=True)
class ChunkBrief:
    id: int
    source: str
    title: str
    text: str


@dataclass(frozen=True)
class SnapshotDiff:
    """What changed from snapshot `old` to `new`: passages by content, matched by (source, heading)."""

    added: list[ChunkBrief]
    removed: list[ChunkBrief]
    changed: list[tuple[ChunkBrief, ChunkBrief]]  # (old, new)
    unchanged: int


def _briefs(snapshot: Snapshot) -> list[tuple[str, ChunkBrief]]:
    rows = snapshot.chunks.order_by("document__source", "ordinal").values_list(
        "id", "document__source", "title", "text", "content_hash"
    )
    return [(h, ChunkBrief(id=i, source=s, title=t, text=x)) for i, s, t, x, h in rows]


def snapshot_diff(*, old: Snapshot, new: Snapshot) -> SnapshotDiff:
    """Passages only in `new` (added), only in `old` (removed), and those whose text changed under the
    same document and heading (changed, paired in order). Both snapshots must be of one knowledge base."""
    if old.knowledge_base_id != new.knowledge_base_id:
        raise KnowledgeError("Compare two snapshots of the same knowledge base.", field="snapshot")
    before, after = _briefs(old), _briefs(new)
    before_hashes = {(h, b.source) for h, b in before}
    after_hashes = {(h, b.source) for h, b in after}
    gone = [b for h, b in before if (h, b.source) not in after_hashes]
    came = [b for h, b in after if (h, b.source) not in before_hashes]
    unchanged = len(after) - len(came)
    changed: list[tuple[ChunkBrief, ChunkBrief]] = []
    waiting: dict[tuple[str, str], list[ChunkBrief]] = {}
    for brief in gone:
        waiting.setdefault((brief.source, brief.title), []).append(brief)
    added: list[ChunkBrief] = []
    for brief in came:
        pool = waiting.get((brief.source, brief.title))
        if pool:
            changed.append((pool.pop(0), brief))
        else:
            added.append(brief)
    removed = [b for pool in waiting.values() for b in pool]
    removed.sort(key=lambda b: (b.source, b.id))
    return SnapshotDiff(added=added, removed=removed, changed=changed, unchanged=unchanged)
