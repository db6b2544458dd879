"""Keyword search of one snapshot's chunks on the database's own full-text index.

PostgreSQL: the stored tsvector `promptlib_chunk.search_vector` (GIN-indexed), ranked with ts_rank;
SQLite: the FTS5 table `promptlib_chunk_fts`, ranked with bm25 (negated so that higher is better).
Both made by migration 0017. A question is long, so its words are ORed: a chunk matching any of
them is a candidate and the ranking sorts them; English stop words are dropped.

Ranking costs time per candidate, and a word found in a large share of the chunks (a knowledge base
about coffee says "coffee" everywhere) would make most of them candidates. So the words that select
candidates are planned from how many chunks hold each (`search_plan`): rarest first, ORed, while the
candidates stay within CANDIDATE_BUDGET; when even the rarest word is in more chunks than that, the
rarest words are ANDed until their estimated intersection fits (and if that finds fewer than asked,
the rarest word alone fills the rest). Either way at most CANDIDATE_CAP candidates are ranked. The
counts come from the database's own statistics: PostgreSQL's ANALYZE of the tsvector column
(pg_stats' most common elements, refreshed by autovacuum; a word not listed is in fewer chunks than
the least common listed one) and SQLite's fts5vocab table over the FTS index. PostgreSQL still ranks
the candidates on every word of the question; SQLite's bm25 ranks on the planned words.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection

MAX_TERMS = 32
CANDIDATE_BUDGET = 600  # chunks the planned words may match (estimated)
CANDIDATE_CAP = 1500  # chunks ranked at most, whatever the estimates said
STATS_SECONDS = 300  # how long PostgreSQL's word statistics are kept in this process
_WORD = re.compile(r"\w+", re.UNICODE)
# PostgreSQL's English stop words (Snowball's list), dropped on both databases: FTS5 keeps them, and
# "the" or "can" in a question would make every chunk a candidate to rank.
_STOP_WORDS = """i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her
    hers herself it its itself they them their theirs themselves what which who whom this that these those am
    is are was were be been being have has had having do does did doing a an the and but if or because as until
    while of at by for with about against between into through during before after above below to from up down
    in out on off over under again further then once here there when where why how all any both each few more
    most other some such no nor not only own same so than too very s t can will just don should now"""
STOP_WORDS = frozenset(_STOP_WORDS.split())


def query_terms(query: str) -> list[str]:
    """The distinct words of a free-text query, lower-cased, in order, at most MAX_TERMS."""
    terms: list[str] = []
    for word in _WORD.findall(query.lower()):
        word = word.strip("_")
        if word and word not in STOP_WORDS and word not in terms:
            terms.append(word)
    return terms[:MAX_TERMS]


def _tags_clause(tags: Sequence[str], column: str) -> tuple[str, list[str]]:
    if not tags:
        return "", []
    ors = " OR ".join(f"{column} LIKE %s" for _ in tags)
    return f" AND ({ors})", [f"% {tag} %" for tag in tags]


@dataclass(frozen=True)
class SearchPlan:
    words: list[str]
    joiner: str  # "or" | "and"
    fallback: str | None = None  # with "and": the rarest word, to fill up when the AND finds too few


def search_plan(counts: dict[str, float], total: float, budget: float | None = None) -> SearchPlan:
    """Which words select the candidates, from how many chunks hold each (of `total` chunks)."""
    budget = CANDIDATE_BUDGET if budget is None else budget
    ordered = sorted(counts.items(), key=lambda pair: (pair[1], pair[0]))
    chosen: list[str] = []
    summed = 0.0
    for word, count in ordered:
        if chosen and summed + count > budget:
            break
        chosen.append(word)
        summed += count
    if summed <= budget or len(ordered) == 1:
        return SearchPlan(words=chosen, joiner="or")
    # Even the rarest word is everywhere: AND the rarest until their (independent) intersection fits.
    anded: list[str] = []
    estimate = max(total, 1.0)
    for word, count in ordered:
        anded.append(word)
        estimate *= min(count / max(total, 1.0), 1.0)
        if estimate <= budget:
            break
    return SearchPlan(words=anded, joiner="and", fallback=ordered[0][0])


_pg_stats: dict[str, object] = {"at": 0.0, "counts": {}, "floor": 0.0, "rows": 0.0}
_pg_lock = threading.Lock()


def _pg_statistics(cursor) -> tuple[dict[str, float], float, float]:
    """(chunks holding each most common lexeme, chunks holding any other at most, rows), kept STATS_SECONDS."""
    with _pg_lock:
        if time.monotonic() - float(_pg_stats["at"]) < STATS_SECONDS:
            return _pg_stats["counts"], _pg_stats["floor"], _pg_stats["rows"]  # type: ignore[return-value]
    cursor.execute("SELECT GREATEST(reltuples, 0) FROM pg_class WHERE oid = 'promptlib_chunk'::regclass")
    rows = float(cursor.fetchone()[0])
    cursor.execute(
        """
        SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs
        FROM pg_stats s
        WHERE s.schemaname = current_schema() AND s.tablename = 'promptlib_chunk' AND s.attname = 'search_vector'
        """
    )
    found = cursor.fetchone()
    counts: dict[str, float] = {}
    floor = 0.0
    if found and found[0]:
        elems, freqs = found
        counts = {lexeme: float(freq) * rows for lexeme, freq in zip(elems, freqs, strict=False)}
        # After one frequency per element come the least and the greatest of them (and the null one).
        floor = float(freqs[len(elems)]) * rows if len(freqs) > len(elems) else min(counts.values())
    with _pg_lock:
        _pg_stats.update(at=time.monotonic(), counts=counts, floor=floor, rows=rows)
    return counts, floor, rows


def statistics_forget() -> None:
    """Read the word statistics again on the next search (tests; after a bulk load)."""
    with _pg_lock:
        _pg_stats.update(at=0.0, counts={}, floor=0.0, rows=0.0)
        _vocab.clear()


def keyword_ids(*, snapshot_id: int, query: str, limit: int, tags: Sequence[str] = ()) -> list[tuple[int, float]]:
    """(chunk id, score) of the best `limit` chunks of the snapshot for `query`, best first."""
    terms = query_terms(query)
    if not terms or limit <= 0:
        return []
    if connection.vendor == "postgresql":
        search = _postgres
    elif connection.vendor == "sqlite":
        search = _sqlite
    else:
        raise NotImplementedError(f"Keyword search has no implementation for {connection.vendor}.")
    with connection.cursor() as cursor:
        return search(cursor, snapshot_id, terms, limit, tags)


def _fill(found: list[tuple[int, float]], more: list[tuple[int, float]], limit: int) -> list[tuple[int, float]]:
    """The AND's chunks first (they hold every planned word), then the fallback's others."""
    seen = {i for i, _ in found}
    return (found + [(i, s) for i, s in more if i not in seen])[:limit]


def _tsquery(lexemes: list[str], joiner: str = "or") -> str:
    """A tsquery of lexemes as they are (already normalised: no second stemming)."""
    operator = " & " if joiner == "and" else " | "
    return operator.join("'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'" for lexeme in lexemes)


def _postgres(cursor, snapshot_id: int, terms: list[str], limit: int, tags: Sequence[str]) -> list[tuple[int, float]]:
    cursor.execute("SELECT lexeme FROM unnest(to_tsvector('english', %s))", [" ".join(terms)])
    lexemes = [row[0] for row in cursor.fetchall()]
    if not lexemes:
        return []
    common, floor, rows = _pg_statistics(cursor)
    plan = search_plan({lexeme: common.get(lexeme, floor / 2) for lexeme in lexemes}, rows)
    tag_sql, tag_params = _tags_clause(tags, "c.tags_text")
    sql = f"""
        WITH candidates AS MATERIALIZED (
            SELECT c.id, c.search_vector
            FROM promptlib_chunk c
            JOIN promptlib_snapshotchunk sc ON sc.chunk_id = c.id AND sc.snapshot_id = %s
            WHERE c.search_vector @@ %s::tsquery{tag_sql}
            LIMIT %s
        )
        SELECT id, ts_rank(search_vector, %s::tsquery) AS score FROM candidates ORDER BY score DESC, id LIMIT %s
    """  # noqa: S608 (only placeholders are interpolated)
    ranked = _tsquery(lexemes)

    def run(selecting: str) -> list[tuple[int, float]]:
        cursor.execute(sql, [snapshot_id, selecting, *tag_params, CANDIDATE_CAP, ranked, limit])
        return [(row[0], float(row[1])) for row in cursor.fetchall()]

    found = run(_tsquery(plan.words, plan.joiner))
    if plan.fallback and len(found) < limit:
        found = _fill(found, run(_tsquery([plan.fallback])), limit)
    return found


def _stem_candidates(word: str) -> list[str]:
    """What the porter stem of `word` may be: itself or a prefix down to 4 letters shorter, at least 2
    letters (and y → i at the end). A stem cut shorter than that counts as a rare word."""
    found = [word[:n] for n in range(max(2, len(word) - 4), len(word) + 1)]
    if word.endswith("y") and len(word) > 2:
        found.append(word[:-1] + "i")
    return found


_vocab: OrderedDict[str, tuple[float, float]] = OrderedDict()  # candidate → (when read, chunks holding it)
VOCAB_KEPT = 20_000


def _sqlite_counts(cursor, terms: list[str]) -> dict[str, float]:
    """Chunks holding each word, from fts5vocab, its stem taken as the longest prefix the index holds.
    Counts read are kept STATS_SECONDS in this process."""
    now = time.monotonic()
    candidates = sorted({c for term in terms for c in _stem_candidates(term)})
    docs: dict[str, float] = {}
    with _pg_lock:
        for candidate in candidates:
            kept = _vocab.get(candidate)
            if kept is not None and now - kept[0] < STATS_SECONDS:
                docs[candidate] = kept[1]
    missing = [c for c in candidates if c not in docs]
    if missing:
        # One equality lookup per candidate: fts5vocab answers `term IN (…)` by scanning every term.
        lookups = " UNION ALL ".join("SELECT term, doc FROM promptlib_chunk_fts_vocab WHERE term = %s" for _ in missing)
        cursor.execute(lookups, missing)
        read = {term: float(doc) for term, doc in cursor.fetchall()}
        with _pg_lock:
            for candidate in missing:
                _vocab[candidate] = (now, read.get(candidate, 0.0))
                _vocab.move_to_end(candidate)
            while len(_vocab) > VOCAB_KEPT:
                _vocab.popitem(last=False)
        docs.update(read)
    docs = {term: count for term, count in docs.items() if count > 0}
    counts = {}
    for term in terms:
        held = [c for c in _stem_candidates(term) if c in docs]
        counts[term] = float(docs[max(held, key=len)]) if held else 0.0
    return counts


def _fts_match(words: list[str], joiner: str = "or") -> str:
    # Each word quoted (a string literal to FTS5: no operators inside).
    return f" {joiner.upper()} ".join('"' + word.replace('"', '""') + '"' for word in words)


def _sqlite(cursor, snapshot_id: int, terms: list[str], limit: int, tags: Sequence[str]) -> list[tuple[int, float]]:
    cursor.execute("SELECT coalesce(max(id), 0) FROM promptlib_chunk")  # the rowid's maximum: no scan
    total = float(cursor.fetchone()[0])
    plan = search_plan(_sqlite_counts(cursor, terms), total)
    tag_sql, tag_params = _tags_clause(tags, "c.tags_text")
    # CROSS JOIN keeps SQLite's join order: the full-text match drives, each hit then looked up by key.
    chunk_join = "CROSS JOIN promptlib_chunk c ON c.id = f.rowid" if tags else ""
    sql = f"""
        SELECT id, score FROM (
            SELECT f.rowid AS id, -bm25(promptlib_chunk_fts, 2.0, 1.0) AS score
            FROM promptlib_chunk_fts f
            CROSS JOIN promptlib_snapshotchunk sc ON sc.snapshot_id = %s AND sc.chunk_id = f.rowid
            {chunk_join}
            WHERE promptlib_chunk_fts MATCH %s{tag_sql}
            LIMIT %s
        ) ORDER BY score DESC, id LIMIT %s
    """  # noqa: S608 (only placeholders are interpolated)

    def run(match: str) -> list[tuple[int, float]]:
        cursor.execute(sql, [snapshot_id, match, *tag_params, CANDIDATE_CAP, limit])
        return [(row[0], float(row[1])) for row in cursor.fetchall()]

    found = run(_fts_match(plan.words, plan.joiner))
    if plan.fallback and len(found) < limit:
        found = _fill(found, run(_fts_match([plan.fallback])), limit)
    return found
