"""A version's retrieval block at work: resolve its snapshot, search, and render with the passages.

The block (promptlib.prompts.content.RETRIEVAL_FIELDS) names a knowledge base of the template's
project, a pinned snapshot number or a label to follow (`latest`), a query template over the
variables (rendered in the sandbox), top-k, mode, tags and a minimum score. The passages found
fill the `knowledge` variable as values (never compiled as Jinja) and come back with the render so
that applications can cite them.

Warm, a retrieval makes no query: a pinned snapshot number → snapshot id is kept in process (the
number of a snapshot never changes), a label → snapshot id in the shared cache for a short while
(dropped when the knowledge base is published: promptlib.core.caching.knowledge_cache_invalidate),
and the passages of (snapshot id, query, parameters) — a snapshot is immutable — in process and in
the shared cache. The label's snapshot id is also memoised in process for two seconds
(promptlib.core.caching.knowledge_label_lookup), so that a warm render makes no cache round trip.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from promptlib.core.caching import (
    KNOWLEDGE_LABEL_TTL_SECONDS,
    KNOWLEDGE_SEARCH_TTL_SECONDS,
    knowledge_label_forget_all,
    knowledge_label_key,
    knowledge_label_lookup,
    knowledge_label_remember,
    knowledge_search_key,
)
from promptlib.core.errors import DomainError
from promptlib.knowledge.embeddings import embedding_spend
from promptlib.knowledge.models import KnowledgeBase
from promptlib.knowledge.selectors import knowledge_search, snapshot_resolve
from promptlib.prompts.content import VersionContent
from promptlib.prompts.rendering import PromptError, RenderedPrompt, render, retrieval_query

# What the `knowledge` variable offers a template for each passage; the rest stays with the result.
PASSAGE_FIELDS = ("id", "title", "source", "text")
_PINNED_TTL_SECONDS = 300.0  # a knowledge base deleted and made again reuses its numbers
_MEMO_SIZE = 4096


class RetrievalError(PromptError):
    """The version's knowledge base, or the snapshot it names, is not there (in this project)."""

    default_field = "retrieval"
    code = "retrieval"


@dataclass(frozen=True)
class Retrieval:
    """What one render retrieved: the passages in rank order, and how long finding them took."""

    knowledge_base: str
    snapshot_id: int
    query: str
    chunks: tuple[dict[str, Any], ...]  # id, title, source, text, score, document_id, tags
    latency_ms: float
    # The query's embedding, when this search made one (semantic or hybrid, and not cached): its cost is
    # part of the cost of answering (promptlib.batches.runner.retrieval_prepare prices it).
    embedding_tokens: int = 0
    embedding_provider_id: int | None = None
    embedding_model: str = ""

    def knowledge(self) -> list[dict[str, Any]]:
        """The `knowledge` variable: id, title, source and text of each passage."""
        return [{name: chunk[name] for name in PASSAGE_FIELDS} for chunk in self.chunks]

    def citations(self) -> list[dict[str, Any]]:
        """What an application needs to cite: id, title, source and score of each passage."""
        return [{name: chunk[name] for name in ("id", "title", "source", "score")} for chunk in self.chunks]

    def chunk_ids(self) -> list[int]:
        return [chunk["id"] for chunk in self.chunks]


@dataclass(frozen=True)
class BuiltPrompt:
    prompt: RenderedPrompt
    retrieval: Retrieval | None


class _Memo:
    """A small thread-safe LRU with expiry, per process."""

    def __init__(self, size: int) -> None:
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self.lock:
            found = self.items.get(key)
            if found is None or found[1] < time.monotonic():
                return None
            self.items.move_to_end(key)
            return found[0]

    def put(self, key, value, ttl: float) -> None:
        with self.lock:
            self.items[key] = (value, time.monotonic() + ttl)
            self.items.move_to_end(key)
            if len(self.items) > self.size:
                self.items.popitem(last=False)


_pinned = _Memo(_MEMO_SIZE)
_passages = _Memo(_MEMO_SIZE)


def retrieval_memo_clear() -> None:
    """Forget what this process keeps (tests: a rolled-back database may hand out the same ids again)."""
    for memo in (_pinned, _passages):
        with memo.lock:
            memo.items.clear()
    knowledge_label_forget_all()


def _snapshot_id(*, project_id: int, block: dict[str, Any]) -> int:
    name = block["knowledge_base"]
    if block.get("snapshot") is not None:
        key = (project_id, name, block["snapshot"])
        found = _pinned.get(key)
        if found is None:
            found = snapshot_resolve(project_id=project_id, knowledge_base=name, snapshot=block["snapshot"])
            _pinned.put(key, found, _PINNED_TTL_SECONDS)
        return found
    label = block.get("label") or "latest"
    key = knowledge_label_key(project_id=project_id, name=name, label=label)
    found = knowledge_label_lookup(key)
    if found is None:
        found = snapshot_resolve(project_id=project_id, knowledge_base=name, label=label)
        cache.set(key, found, KNOWLEDGE_LABEL_TTL_SECONDS)
        knowledge_label_remember(key, found)
    return found


def _search_params(block: dict[str, Any]) -> dict[str, Any]:
    return {
        "top_k": block.get("top_k") or 4,
        "mode": block.get("mode") or "keyword",
        "tags": tuple(block.get("tags") or ()),
        "min_score": block.get("min_score"),
    }


def _passages_find(*, project_id: int, snapshot_id: int, query: str, params: dict[str, Any]) -> tuple[dict, ...]:
    material = json.dumps([snapshot_id, query, params], sort_keys=True, default=list)
    digest = hashlib.sha256(material.encode()).hexdigest()
    found = _passages.get(digest)
    if found is not None:
        return found
    key = knowledge_search_key(snapshot_id=snapshot_id, digest=digest)
    found = cache.get(key)
    if found is None:
        chunks = knowledge_search(project_id=project_id, snapshot_id=snapshot_id, query=query, **params)
        found = tuple(
            {
                "id": c.id,
                "title": c.title,
                "source": c.source,
                "text": c.text,
                "score": float(c.score),
                "document_id": c.document_id,
                "tags": list(c.tags),
            }
            for c in chunks
        )
        cache.set(key, found, KNOWLEDGE_SEARCH_TTL_SECONDS)
    _passages.put(digest, found, KNOWLEDGE_SEARCH_TTL_SECONDS)
    return found


def retrieval_run(*, project_id: int, content: Any, variables: dict[str, Any] | None) -> Retrieval | None:
    """Search the version's knowledge base for these variables; None when the version has no retrieval block.

    Raises a PromptError when the query does not render, and a RetrievalError (one too) when the
    knowledge base or its snapshot is not there, or the search fails.
    """
    if not isinstance(content, VersionContent):
        content = VersionContent.from_obj(content)
    query = retrieval_query(content, variables)
    if query is None:
        return None
    block = content.retrieval
    started = time.perf_counter()
    try:
        snapshot_id = _snapshot_id(project_id=project_id, block=block)
        with embedding_spend() as spend:
            chunks = _passages_find(
                project_id=project_id, snapshot_id=snapshot_id, query=query, params=_search_params(block)
            )
    except PromptError:
        raise
    except DomainError as exc:
        raise RetrievalError(
            f"Knowledge base '{block['knowledge_base']}': {exc.message}", field="retrieval.knowledge_base"
        ) from exc
    return Retrieval(
        knowledge_base=block["knowledge_base"],
        snapshot_id=snapshot_id,
        query=query,
        chunks=chunks,
        latency_ms=(time.perf_counter() - started) * 1000,
        embedding_tokens=spend.tokens,
        embedding_provider_id=spend.provider_id,
        embedding_model=spend.model,
    )


def prompt_build(*, project_id: int, content: VersionContent, variables: dict[str, Any] | None) -> BuiltPrompt:
    """Retrieve (when the version says so), then render with the passages as the `knowledge` variable."""
    retrieval = retrieval_run(project_id=project_id, content=content, variables=variables)
    prompt = render(content, variables, knowledge=retrieval.knowledge() if retrieval else None)
    return BuiltPrompt(prompt=prompt, retrieval=retrieval)


def retrieval_check(*, project_id: int, block: dict[str, Any] | None) -> None:
    """Refuse a retrieval block naming a knowledge base this project does not have, or a snapshot it lacks.

    A block that follows a label may be saved before the knowledge base is first published: renders
    then say it has no snapshot yet.
    """
    if not block:
        return
    name = block["knowledge_base"]
    if not KnowledgeBase.objects.filter(project_id=project_id, name=name).exists():
        raise RetrievalError(
            f"This project has no knowledge base named '{name}'. Choose one of the project's knowledge bases.",
            field="retrieval.knowledge_base",
            code="not_found",
        )
    if block.get("snapshot") is not None:
        try:
            snapshot_resolve(project_id=project_id, knowledge_base=name, snapshot=block["snapshot"])
        except DomainError as exc:
            raise RetrievalError(exc.message, field="retrieval.snapshot", code="not_found") from exc
