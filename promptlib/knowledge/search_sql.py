"""Keyword search of one snapshot's chunks on the database's own full-text index.

PostgreSQL: the stored tsvector `promptlib_chunk.search_vector` (GIN-indexed), ranked with ts_rank;
SQLite: the FTS5 table `promptlib_chunk_fts`, ranked with bm25 (negated so that higher is better).
Both made by migration 0017. A question is long, so its words are ORed: a chunk matching any of
them is a candidate and the ranking sorts them; English stop words are dropped by both indexes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.db import connection

MAX_TERMS = 32
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


def _postgres(snapshot_id: int, terms: list[str], limit: int, tags: Sequence[str]) -> list[tuple[int, float]]:
    # websearch_to_tsquery takes any text safely; "or" between the words makes an OR query.
    tag_sql, tag_params = _tags_clause(tags, "c.tags_text")
    sql = f"""
        SELECT c.id, ts_rank(c.search_vector, q.query) AS score
        FROM promptlib_chunk c
        JOIN promptlib_snapshotchunk sc ON sc.chunk_id = c.id AND sc.snapshot_id = %s
        CROSS JOIN (SELECT websearch_to_tsquery('english', %s) AS query) q
        WHERE c.search_vector @@ q.query{tag_sql}
        ORDER BY score DESC, c.id
        LIMIT %s
    """  # noqa: S608 (only placeholders are interpolated)
    with connection.cursor() as cursor:
        cursor.execute(sql, [snapshot_id, " or ".join(terms), *tag_params, limit])
        return [(row[0], float(row[1])) for row in cursor.fetchall()]


def _sqlite(snapshot_id: int, terms: list[str], limit: int, tags: Sequence[str]) -> list[tuple[int, float]]:
    # Each term quoted (a string literal to FTS5: no operators inside), ORed.
    match = " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
    tag_sql, tag_params = _tags_clause(tags, "c.tags_text")
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
