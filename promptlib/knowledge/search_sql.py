"""Keyword search of one snapshot's chunks on the database's own full-text index.

PostgreSQL: the stored tsvector `promptlib_chunk.search_vector` (GIN-indexed), ranked with ts_rank;
SQLite: the FTS5 table `promptlib_chunk_fts`, ranked with bm25 (negated so that higher is better).
Both made by migration 0017. A question is long, so its words are ORed: a chunk matching any of
them is a candidate and the ranking sorts them; English stop words are dropped.

Ranking costs time per candidate, and a word found in a large share of the chunks (a knowledge base
about coffee says "coffee" everywhere) would make most of them candidates. So the words are taken
rarest first, by how many chunks hold each, until the candidates would pass CANDIDATE_BUDGET (the
rarest word is always taken): the common words, which rank little anyway, select nothing. How many
chunks hold a word comes from the database's own statistics: PostgreSQL's ANALYZE of the tsvector
column (pg_stats' most common elements, refreshed by autovacuum; words not listed are rare) and
SQLite's fts5vocab table over the FTS index. PostgreSQL still ranks the candidates on every word.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence

from django.db import connection

MAX_TERMS = 32
CANDIDATE_BUDGET = 1500  # chunks the chosen words may match, estimated, before rarer words stop being added
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


def _rarest_first(frequencies: dict[str, float], budget: float | None = None) -> list[str]:
    """The words to select candidates with: rarest first while the estimated matches fit the budget."""
    budget = CANDIDATE_BUDGET if budget is None else budget
    chosen: list[str] = []
    total = 0.0
    for word, count in sorted(frequencies.items(), key=lambda pair: (pair[1], pair[0])):
        if chosen and total + count > budget:
            break
        chosen.append(word)
        total += count
    return chosen


_pg_stats: dict[str, object] = {"at": 0.0, "counts": {}}
_pg_lock = threading.Lock()


def _pg_common_counts(cursor) -> dict[str, float]:
    """Estimated chunks holding each of the most common lexemes (from ANALYZE), kept STATS_SECONDS."""
    with _pg_lock:
        if time.monotonic() - float(_pg_stats["at"]) < STATS_SECONDS:
            return _pg_stats["counts"]  # type: ignore[return-value]
    cursor.execute(
        """
        SELECT t.lexeme, t.freq * GREATEST(c.reltuples, 0)
        FROM pg_stats s
        JOIN pg_class c ON c.relname = s.tablename AND c.relnamespace = to_regnamespace(s.schemaname)
        CROSS JOIN LATERAL unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS t(lexeme, freq)
        WHERE s.schemaname = current_schema() AND s.tablename = 'promptlib_chunk' AND s.attname = 'search_vector'
          AND t.lexeme IS NOT NULL
        """
    )
    counts = {row[0]: float(row[1]) for row in cursor.fetchall()}
    with _pg_lock:
        _pg_stats.update(at=time.monotonic(), counts=counts)
    return counts


def statistics_forget() -> None:
    """Read the word statistics again on the next search (tests; after a bulk load)."""
    with _pg_lock:
        _pg_stats.update(at=0.0, counts={})


def keyword_ids(*, snapshot_id: int, query: str, limit: int, tags: Sequence[str] = ()) -> list[tuple[int, float]]:
    """(chunk id, score) of the best `limit` chunks of the snapshot for `query`, best first."""
    terms = query_terms(query)
    if not terms or limit <= 0:
        return []
    if connection.vendor == "postgresql":
        return _postgres(snapshot_id, terms, limit, tags)
    if connection.vendor == "sqlite":
        return _sqlite(snapshot_id, terms, limit, tags)
    raise NotImplementedError(f"Keyword search has no implementation for {connection.vendor}.")


def _tsquery(lexemes: list[str]) -> str:
    """A tsquery ORing lexemes as they are (already normalised: no second stemming)."""
    return " | ".join("'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'" for lexeme in lexemes)


def _postgres(snapshot_id: int, terms: list[str], limit: int, tags: Sequence[str]) -> list[tuple[int, float]]:
    tag_sql, tag_params = _tags_clause(tags, "c.tags_text")
    with connection.cursor() as cursor:
        cursor.execute("SELECT lexeme FROM unnest(to_tsvector('english', %s))", [" ".join(terms)])
        lexemes = [row[0] for row in cursor.fetchall()]
        if not lexemes:
            return []
        common = _pg_common_counts(cursor)
        chosen = _rarest_first({lexeme: common.get(lexeme, 0.0) for lexeme in lexemes})
        sql = f"""
            SELECT c.id, ts_rank(c.search_vector, %s::tsquery) AS score
            FROM promptlib_chunk c
            JOIN promptlib_snapshotchunk sc ON sc.chunk_id = c.id AND sc.snapshot_id = %s
            WHERE c.search_vector @@ %s::tsquery{tag_sql}
            ORDER BY score DESC, c.id
            LIMIT %s
        """  # noqa: S608 (only placeholders are interpolated)
        cursor.execute(sql, [_tsquery(lexemes), snapshot_id, _tsquery(chosen), *tag_params, limit])
        return [(row[0], float(row[1])) for row in cursor.fetchall()]


def _stem_candidates(word: str) -> list[str]:
    """What the porter stem of `word` may be: its prefixes of 2+ letters (and y → i at the end)."""
    found = [word[:n] for n in range(2, len(word) + 1)]
    if word.endswith("y") and len(word) > 2:
        found.append(word[:-1] + "i")
    return found


def _sqlite_counts(cursor, terms: list[str]) -> dict[str, float]:
    """Chunks holding each word, from fts5vocab, its stem taken as the longest prefix the index holds."""
    candidates = sorted({c for term in terms for c in _stem_candidates(term)})
    if not candidates:
        return dict.fromkeys(terms, 0.0)
    marks = ", ".join("%s" for _ in candidates)
    cursor.execute(f"SELECT term, doc FROM promptlib_chunk_fts_vocab WHERE term IN ({marks})", candidates)  # noqa: S608
    docs = dict(cursor.fetchall())
    counts = {}
    for term in terms:
        held = [c for c in _stem_candidates(term) if c in docs]
        counts[term] = float(docs[max(held, key=len)]) if held else 0.0
    return counts


def _sqlite(snapshot_id: int, terms: list[str], limit: int, tags: Sequence[str]) -> list[tuple[int, float]]:
    tag_sql, tag_params = _tags_clause(tags, "c.tags_text")
    with connection.cursor() as cursor:
        chosen = _rarest_first(_sqlite_counts(cursor, terms))
    # Each term quoted (a string literal to FTS5: no operators inside), ORed.
    match = " OR ".join('"' + term.replace('"', '""') + '"' for term in chosen)
    sql = f"""
        SELECT c.id, -bm25(promptlib_chunk_fts, 2.0, 1.0) AS score
        FROM promptlib_chunk_fts
        JOIN promptlib_chunk c ON c.id = promptlib_chunk_fts.rowid
        JOIN promptlib_snapshotchunk sc ON sc.chunk_id = c.id AND sc.snapshot_id = %s
        WHERE promptlib_chunk_fts MATCH %s{tag_sql}
        ORDER BY score DESC, c.id
        LIMIT %s
    """  # noqa: S608 (only placeholders are interpolated)
    with connection.cursor() as cursor:
        cursor.execute(sql, [snapshot_id, match, *tag_params, limit])
        return [(row[0], float(row[1])) for row in cursor.fetchall()]
