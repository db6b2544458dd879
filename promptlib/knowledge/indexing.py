"""Making the missing vectors of a knowledge base (the task promptlib.tasks.knowledge_embed).

Only chunks without a vector from the knowledge base's current model are sent: a chunk whose content
hash already has one (an unchanged passage of a re-uploaded document) copies it instead. Progress is
kept on the knowledge base (embed_status, embed_done of embed_total) for its admin page. With pgvector,
every run ends by copying the vectors the HNSW side table lacks (promptlib.knowledge.vector_pg).
"""

from __future__ import annotations

from django.db.models import Q

from promptlib.knowledge.embeddings import texts_embed
from promptlib.knowledge.errors import KnowledgeError
from promptlib.knowledge.models import Chunk, KnowledgeBase
from promptlib.knowledge.vector_pg import vectors_sync

BATCH = 64


def _progress(kb_id: int, **fields) -> None:
    KnowledgeBase.objects.filter(pk=kb_id).update(**fields)


def knowledge_embed(*, knowledge_base_id: int, batch_size: int = BATCH) -> int:
    """Embed the chunks of the knowledge base that lack a vector from its model; returns how many were sent.

    Chunks of current documents and of published snapshots count; a redelivered task goes on where the
    last one stopped (each batch is saved as it comes)."""
    kb = KnowledgeBase.objects.select_related("embedding_provider").filter(pk=knowledge_base_id).first()
    if kb is None or kb.embedding_provider_id is None or not kb.embedding_model:
        return 0
    model = kb.embedding_model
    wanted = Chunk.objects.filter(knowledge_base=kb).filter(Q(document__is_current=True) | Q(snapshots__isnull=False))
    missing = wanted.exclude(embedding_model=model, embedding__isnull=False).distinct()
    todo = list(missing.order_by("id").values_list("id", "content_hash", "title", "text"))
    _progress(kb.pk, embed_status="running", embed_done=0, embed_total=len(todo), embed_error="")
    known = dict(
        Chunk.objects.filter(knowledge_base=kb, embedding_model=model, embedding__isnull=False)
        .filter(content_hash__in={row[1] for row in todo})
        .values_list("content_hash", "embedding")
    )
    done = sent = 0
    try:
        for start in range(0, len(todo), batch_size):
            rows = todo[start : start + batch_size]
            fresh = [row for row in rows if row[1] not in known]
            if fresh:
                vectors, _tokens = texts_embed(kb, [f"{title}\n\n{text}".strip() for _, _, title, text in fresh])
                sent += len(fresh)
                known.update({row[1]: vector for row, vector in zip(fresh, vectors, strict=True)})
            updates = [Chunk(id=row[0], embedding=known[row[1]], embedding_model=model) for row in rows]
            Chunk.objects.bulk_update(updates, ["embedding", "embedding_model"])
            done += len(rows)
            _progress(kb.pk, embed_done=done)
        vectors_sync(knowledge_base_id=kb.pk, model=model)
    except KnowledgeError as exc:
        _progress(kb.pk, embed_status="failed", embed_error=exc.message[:2000])
        raise
    _progress(kb.pk, embed_status="done", embed_done=done)
    return sent
