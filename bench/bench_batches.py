"""Batch engine benchmark: real Celery workers, Redis, PostgreSQL and the local stand-in provider.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python bench/bench_batches.py [--latency-calls 1000] [--overhead-calls 4000]

Creates a fresh database (promptlib_bench_batches on DATABASE_URL's server), migrates it, seeds an
experiment with two variants, and starts the stand-in (`python -m tests.standins.server`) and Celery
workers (prefork) as subprocesses, on a queue of its own. Then, from one run:

  (a) latency-bound  1,000 calls, provider cap 20 in flight, stand-in answering in 200 ms:
                     wall time against the ideal calls × latency ÷ concurrency (target ≤ 1.15×).
  (b) overhead-bound 4,000 calls, stand-in answering at once: calls/s with 1 and with 2 worker
                     processes (target ≥ 200 calls/s with 2, ≥ 1.6× scale-out; provider cap 6), next to the bare
                     openai SDK calling the same stand-in sequentially from one thread.
Wall time runs from batch_start (items enqueued) to the batch's last result being stored.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from urllib.request import Request, urlopen

BASE_DIR = Path(__file__).resolve().parent.parent
DB_NAME = "promptlib_bench_batches"


def bench_database(url: str, name: str) -> str:
    """Drop and create database `name` on the server of `url`; return its URL."""
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def bench_env(database_url: str, redis_url: str, queue: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CACHE_KEY_PREFIX=f"benchb{os.getpid()}",
        CELERY_TASK_DEFAULT_QUEUE=queue,
        DEBUG="false",
        SECRET_KEY="bench-" + uuid.uuid4().hex,
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="0",
        LOG_LEVEL="WARNING",
        PROMPTLIB_BATCH_CHUNK_SIZE=os.environ.get("PROMPTLIB_BATCH_CHUNK_SIZE", "50"),
    )
    return env


class Standin:
    def __init__(self, latency: float) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own module
            [sys.executable, "-m", "tests.standins.server", "--port", "0", "--latency", str(latency), "--no-bodies"],
            cwd=BASE_DIR,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = int(self.proc.stdout.readline().strip())
        self.url = f"http://127.0.0.1:{self.port}"

    def _post(self, path: str, body: dict | None = None) -> dict:
        request = Request(self.url + path, data=json.dumps(body or {}).encode(), method="POST")  # noqa: S310
        request.add_header("Content-Type", "application/json")
        with urlopen(request) as response:  # noqa: S310 - local stand-in
            return json.loads(response.read() or b"{}")

    def control(self, **command) -> None:
        self._post("/_control", command)

    def reset(self) -> None:
        self._post("/_reset")

    def stats(self) -> dict:
        with urlopen(self.url + "/_stats") as response:  # noqa: S310 - local stand-in
            return json.loads(response.read())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Workers:
    def __init__(self, env: dict[str, str], queue: str) -> None:
        self.env, self.queue, self.procs = env, queue, []

    def start(self, *, processes: int) -> None:
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{self.queue}-{len(self.procs)}.log"
        proc = subprocess.Popen(  # noqa: S603 - our own celery binary
            [str(Path(sys.executable).with_name("celery")), "-A", "config", "worker", "--pool=prefork",
             f"--concurrency={processes}", "-Q", self.queue, "-n", f"bench{len(self.procs)}-{self.queue}@%h",
             "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=BASE_DIR, env=self.env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.procs.append(proc)
        deadline = time.monotonic() + 120
        while " ready." not in log.read_text():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"The worker did not start; see {log}")
            time.sleep(0.2)
        time.sleep(1.0)  # pool processes forked and idle

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs = []


def seed(standin_url: str, *, cases: int):
    from promptlib.content import VersionContent
    from promptlib.models import Project, ProviderConfig
    from promptlib.providers.limits import limiter_for
    from promptlib.services.datasets import CaseData, cases_add, dataset_create
    from promptlib.services.experiments import VariantSpec, experiment_create
    from promptlib.services.templates import template_create, version_create

    project = Project.objects.create(slug=f"bench-{uuid.uuid4().hex[:6]}", name="Bench")
    template = template_create(project=project, slug="triage", title="Triage")

    def content(task: str) -> VersionContent:
        return VersionContent(role="You route tickets.", task=task, context="Ticket: {{ ticket }}",
                              variables=[{"name": "ticket", "type": "string", "required": True}])  # fmt: skip

    v1, _ = version_create(template=template, content=content("Classify the ticket."))
    v2, _ = version_create(template=template, content=content("Classify the ticket into one category."))
    experiment = experiment_create(
        template=template, name="bench",
        variants=[VariantSpec(key="control", version=v1, is_control=True), VariantSpec(key="b", version=v2)],
    )  # fmt: skip
    dataset = dataset_create(project=project, name="tickets")
    cases_add(dataset=dataset, cases=[CaseData(input={"ticket": f"ticket {i}"}) for i in range(cases)])
    provider = ProviderConfig.objects.create(
        project=project, name="standin", kind="openai", base_url=f"{standin_url}/v1", models=["standin"],
        max_concurrency=20, max_retries=3, timeout_seconds=30,
    )  # fmt: skip
    limiter_for(provider).reset()
    return experiment, dataset, provider


def run_batch(experiment, dataset, provider, *, calls: int, timeout: float = 600) -> float:
    """Start a batch of `calls` calls and wait for its end; returns the wall time in seconds."""
    from django.db import connection

    from promptlib.models import Batch, BatchItem
    from promptlib.services.batches import batch_create, batch_start

    repeats = max(1, calls // (2 * dataset.cases.count()))
    batch = batch_create(experiment=experiment, dataset=dataset, provider=provider, model="standin", repeats=repeats)
    started = time.perf_counter()
    batch_start(batch=batch)
    deadline = time.monotonic() + timeout
    while Batch.objects.filter(pk=batch.pk, status=Batch.Status.RUNNING).exists():
        if time.monotonic() > deadline:
            raise SystemExit("The batch did not finish in time.")
        time.sleep(0.05)
    wall = time.perf_counter() - started
    connection.close()
    done = BatchItem.objects.filter(batch=batch, status=BatchItem.Status.DONE).count()
    if done != batch.total:
        raise SystemExit(f"Only {done} of {batch.total} calls succeeded.")
    return wall


def bare_sdk_rate(standin: Standin, calls: int) -> float:
    import openai

    client = openai.OpenAI(base_url=f"{standin.url}/v1", api_key="not-needed", max_retries=0)
    messages = [{"role": "user", "content": "Ticket: ticket 1"}]
    client.chat.completions.create(model="standin", messages=messages)  # warm the connection
    started = time.perf_counter()
    for _ in range(calls):
        client.chat.completions.create(model="standin", messages=messages)
    return calls / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency-calls", type=int, default=1000)
    parser.add_argument("--overhead-calls", type=int, default=4000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=20)
    # With answers at once, a few calls in flight per process saturate the CPUs; more threads only add GIL churn.
    parser.add_argument("--overhead-concurrency", type=int, default=6)
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith("postgres") or not redis_url:
        raise SystemExit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: the benchmark measures the production setup.")
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    env = bench_env(bench_database(database_url, DB_NAME), redis_url, queue)
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=BASE_DIR, env=env, check=True)  # noqa: S603
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()

    standin = Standin(latency=args.latency)
    workers = Workers(env, queue)
    try:
        experiment, dataset, provider = seed(standin.url, cases=100)
        provider.max_concurrency = args.concurrency
        provider.save(update_fields=["max_concurrency"])

        # (a) latency-bound
        workers.start(processes=2)
        wall_a = run_batch(experiment, dataset, provider, calls=args.latency_calls)
        stats = standin.stats()
        ideal = args.latency_calls * args.latency / args.concurrency
        workers.stop()

        # (b) overhead-bound
        standin.control(latency=0.0)
        standin.reset()
        provider.max_concurrency = args.overhead_concurrency
        provider.save(update_fields=["max_concurrency"])
        rates = {}
        for processes in (1, 2):
            workers.start(processes=processes)
            wall = run_batch(experiment, dataset, provider, calls=args.overhead_calls)
            rates[processes] = args.overhead_calls / wall
            workers.stop()
        bare = bare_sdk_rate(standin, calls=1000)
    finally:
        workers.stop()
        standin.stop()

    ratio = wall_a / ideal
    scale = rates[2] / rates[1]
    print()
    print("Batch engine benchmark (Redis broker + PostgreSQL, prefork workers, real openai SDK)")
    print(f"(a) latency-bound : {args.latency_calls} calls, cap {args.concurrency}, {args.latency * 1000:.0f} ms each")
    verdict = "OK" if ratio <= 1.15 else "MISSED"
    print(f"    wall {wall_a:.2f} s   ideal {ideal:.2f} s   ratio {ratio:.3f}×  (target ≤ 1.15×) {verdict}")
    print(f"    max in flight seen by the stand-in: {stats['max_in_flight']} (cap {args.concurrency})")
    print(
        f"(b) overhead-bound: {args.overhead_calls} calls, cap {args.overhead_concurrency}, stand-in answering at once"
    )
    print(f"    {'1 worker process':<22}{rates[1]:8.1f} calls/s")
    verdict = "OK" if rates[2] >= 200 else "MISSED"
    print(f"    {'2 worker processes':<22}{rates[2]:8.1f} calls/s   (target ≥ 200) {verdict}")
    print(f"    {'scale-out':<22}{scale:8.2f}×        (target ≥ 1.6×) {'OK' if scale >= 1.6 else 'MISSED'}")
    print(f"    {'bare openai SDK':<22}{bare:8.1f} calls/s   (one thread, sequential, no database)")
    print(f"    machine: {os.cpu_count()} CPUs (stand-in, PostgreSQL, Redis and workers share them)")


if __name__ == "__main__":
    main()
