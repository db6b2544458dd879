"""Knowledge retrieval benchmark: keyword search over 100,000 chunks on PostgreSQL and on SQLite.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_knowledge.py \
        [--chunks 100000] [--queries 300] [--top-k 4] [--db-name promptlib_bench_knowledge] [--only sqlite|postgresql]

For each database (PostgreSQL: a fresh database named --db-name on DATABASE_URL's server; SQLite: a
fresh file under var/), in its own process: migrates, writes one knowledge base of --chunks chunks
(100 documents; each chunk ~80 words drawn from a Zipf-distributed 20,000-word vocabulary, so a few
words are in most chunks and most words in few), publishes a snapshot of all of them, then runs
--queries questions (8–16 words, with stop words, as users ask) through knowledge_search in keyword
mode, after 20 warm-up queries. Prints p50 / p95 / p99 / max of the wall time per query and the CPU
time per query of this (client) process; the database server's own CPU is not in the CPU figure on
PostgreSQL (on SQLite the search runs in-process, so it is). Target: p95 ≤ 20 ms on each database.

Then, in-process and without a database, the semantic fallback's numpy scan (--chunks × 384 float32,
the matrix already loaded) for comparison; pgvector's HNSW path is bench/bench_vector.py.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.support import bench_database  # noqa: E402 - after the path is set

VOCABULARY = 20_000
WORDS_PER_CHUNK = 80
DOCUMENTS = 100
STOP = ["how", "can", "i", "do", "you", "the", "a", "of", "to", "is", "my", "for", "what", "when", "will", "it"]


def _vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(4, 10))))
    return sorted(words)


def _zipf_weights() -> list[float]:
    return [1.0 / (rank + 1) for rank in range(VOCABULARY)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def run_backend(args) -> None:
    import django

    django.setup()
    from django.db import connection

    from promptlib.core.models import Project
    from promptlib.knowledge.models import Snapshot

    rng = random.Random(7)
    words = _vocabulary(rng)
    weights = _zipf_weights()
    project = Project.objects.filter(slug="bench").first()
    if project is not None and args.keep:
        snapshot = Snapshot.objects.get(knowledge_base__project=project, number=1)
        print(f"[{connection.vendor}] reusing {snapshot.chunk_count:,} chunks")
    else:
        snapshot = _write(args, rng, words, weights)
    _queries(args, rng, words, weights, snapshot)


def _write(args, rng, words, weights):
    from django.db import connection, transaction

    from promptlib.core.models import Project
    from promptlib.knowledge.chunking import chunk_hash
    from promptlib.knowledge.models import Chunk, Document
    from promptlib.knowledge.services import knowledge_base_create, knowledge_publish

    project = Project.objects.create(slug="bench", name="Bench")
    kb = knowledge_base_create(project=project, name="bench")
    started = time.perf_counter()
    per_doc = args.chunks // DOCUMENTS
    for d in range(DOCUMENTS):
        with transaction.atomic():
            doc = Document.objects.create(
                knowledge_base=kb, source=f"doc-{d}.md", kind="md", title=f"Document {d}", content_hash=str(d),
                original=b"", text="",
            )  # fmt: skip
            rows = []
            for i in range(per_doc):
                text = " ".join(rng.choices(words, weights=weights, k=WORDS_PER_CHUNK)) + "."
                title = f"Section {i} " + " ".join(rng.choices(words, weights=weights, k=2))
                tag = ["policy"] if i % 3 == 0 else []
                rows.append(
                    Chunk(
                        knowledge_base=kb,
                        document=doc,
                        ordinal=i,
                        title=title,
                        text=text,
                        content_hash=chunk_hash(title, text),
                        tags=tag,
                        tags_text=" policy " if tag else "",
                    )  # fmt: skip
                )
            Chunk.objects.bulk_create(rows, batch_size=1000)
    write = time.perf_counter() - started
    started = time.perf_counter()
    snapshot = knowledge_publish(knowledge_base=kb)
    publish = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE promptlib_chunk")
            cursor.execute("VACUUM ANALYZE promptlib_snapshotchunk")
    print(f"[{connection.vendor}] wrote {snapshot.chunk_count:,} chunks in {write:.1f} s, published in {publish:.1f} s")
    return snapshot


def _queries(args, rng, words, weights, snapshot):
    from django.db import connection

    from promptlib.knowledge.selectors import knowledge_search

    project_id = snapshot.knowledge_base.project_id

    questions = []
    for _ in range(args.queries + 20):
        content = rng.choices(words, weights=weights, k=rng.randint(4, 8))
        filler = rng.choices(STOP, k=rng.randint(4, 8))
        mixed = content + filler
        rng.shuffle(mixed)
        questions.append(" ".join(mixed) + "?")
    for label, options in (("keyword", {}), ("keyword+tag", {"tags": ["policy"]})):
        walls, cpus, hits = [], [], 0
        for n, question in enumerate(questions):
            wall, cpu = time.perf_counter(), time.process_time()
            found = knowledge_search(
                project_id=project_id, snapshot_id=snapshot.pk, query=question, top_k=args.top_k, **options
            )
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if n >= 20:  # warm-up
                walls.append(wall * 1000)
                cpus.append(cpu * 1000)
                hits += bool(found)
        print(
            f"[{connection.vendor}] {label:12} top_k={args.top_k}  p50 {percentile(walls, 50):6.2f} ms  "
            f"p95 {percentile(walls, 95):6.2f} ms  p99 {percentile(walls, 99):6.2f} ms  max {max(walls):6.2f} ms  "
            f"CPU/query {sum(cpus) / len(cpus):5.2f} ms  ({hits}/{len(walls)} queries found chunks)"
        )


def numpy_scan(args) -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    matrix = rng.standard_normal((args.chunks, 384)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    walls, cpus = [], []
    for _ in range(args.queries):
        query = rng.standard_normal(384).astype(np.float32)
        query /= np.linalg.norm(query)
        wall, cpu = time.perf_counter(), time.process_time()
        scores = matrix @ query
        best = np.argpartition(-scores, args.top_k)[: args.top_k]
        best[np.argsort(-scores[best])]
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    print(
        f"[numpy] vector scan {args.chunks:,}×384  p50 {percentile(walls, 50):6.2f} ms  "
        f"p95 {percentile(walls, 95):6.2f} ms  CPU/query {sum(cpus) / len(cpus):5.2f} ms (all cores numpy uses)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--top-k", type=int, default=4)
    parser.add_argument("--db-name", default="promptlib_bench_knowledge")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--keep", action="store_true", help="Reuse the databases of the last run (no writing).")
    parser.add_argument("--run-here", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.run_here:
        run_backend(args)
        return
    forwarded = [f"--chunks={args.chunks}", f"--queries={args.queries}", f"--top-k={args.top_k}", "--run-here"]
    forwarded += ["--keep"] if args.keep else []
    targets = []
    if args.only in (None, "postgresql"):
        server = urlsplit(os.environ["DATABASE_URL"])
        url = urlunsplit(server._replace(path=f"/{args.db_name}"))
        targets.append(url if args.keep else bench_database(os.environ["DATABASE_URL"], args.db_name))
    if args.only in (None, "sqlite"):
        path = BASE_DIR / "var" / "bench_knowledge.sqlite3"
        path.parent.mkdir(exist_ok=True)
        if not args.keep:
            path.unlink(missing_ok=True)
        targets.append(f"sqlite:///{path}")
    for url in targets:
        env = {**os.environ, "DATABASE_URL": url, "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "config.settings"}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=BASE_DIR, check=True, env=env)  # noqa: S603
        subprocess.run([sys.executable, __file__, *forwarded], cwd=BASE_DIR, check=True, env=env)  # noqa: S603
    numpy_scan(args)


if __name__ == "__main__":
    main()
