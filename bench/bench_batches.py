"""Batch engine benchmark: real Celery workers, Redis, PostgreSQL and the local stand-in provider.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python bench/bench_batches.py [--latency-calls 1000] [--overhead-calls 4000]

Creates a fresh database (promptlib_bench_batches on DATABASE_URL's server), migrates it, seeds an
experiment with two variants, and starts the stand-in (`python -m tests.standins.server`) and Celery
workers (prefork) as subprocesses, on a queue of its own. Then, from one run:

  (a) latency-bound  1,000 calls, provider cap 20 in flight, stand-in answering in 200 ms:
                     wall time against the ideal calls × latency ÷ concurrency (target ≤ 1.15×).
  (b) overhead-bound 4,000 calls, stand-in answering at once: calls/s with 1 and with 2 worker
                     processes (target ≥ 200 calls/s with 2, ≥ 1.6× scale-out), next to the bare openai SDK
                     calling the same stand-in sequentially from one thread, through `chat.completions.create`
                     and through `client.post` as promptlib's provider sends (the same bytes, without the
                     SDK's walk of the arguments, which costs create ~15% CPU). The provider is the one of (a),
                     cap 20: far more than the few calls in flight that keep a process's CPU busy, so the
                     figure is the engine's overhead, not the cap (the stand-in prints the peak it saw).
Wall time runs from batch_start (items enqueued) to the batch's last result being stored.

Each run also prints the CPU time per call of every party, read from /proc: the worker processes
(Celery's parent and its pool), the stand-in, PostgreSQL, Redis and this script (which creates the
items). They share 2 CPUs: what the others take per call is what a second worker process cannot use.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.request import Request, urlopen

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.support import bench_database, bench_env, django_start, production_urls  # noqa: E402 - after the path is set

DB_NAME = "promptlib_bench_batches"


def worker_env(database_url: str, redis_url: str) -> dict[str, str]:
    chunk = os.environ.get("PROMPTLIB_BATCH_CHUNK_SIZE", "50")
    return bench_env(database_url, redis_url, CACHE_KEY_PREFIX=f"benchb{os.getpid()}", PROMPTLIB_BATCH_CHUNK_SIZE=chunk)


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
    """`celery worker --pool=prefork --concurrency=N`: N worker processes, each running one chunk at a time.

    Every start uses a fresh queue (also set as this process's default queue, where batch_start sends
    the chunks), so that no message left over from an earlier run is ahead of this run's.
    """

    def __init__(self, env: dict[str, str]) -> None:
        self.env, self.procs = env, []

    def start(self, *, processes: int) -> None:
        from django.conf import settings

        queue = settings.CELERY_TASK_DEFAULT_QUEUE = f"bench-{uuid.uuid4().hex[:8]}"
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{queue}.log"
        proc = subprocess.Popen(  # noqa: S603 - our own celery binary
            [str(Path(sys.executable).with_name("celery")), "-A", "config", "worker", "--pool=prefork",
             f"--concurrency={processes}", "-Q", queue, "-n", f"bench-{queue}@%h",
             "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=BASE_DIR, env={**self.env, "CELERY_TASK_DEFAULT_QUEUE": queue}, stdout=log.open("w"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.procs.append(proc)
        deadline = time.monotonic() + 120
        while " ready." not in log.read_text():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"The worker did not start; see {log}")
            time.sleep(0.2)
        time.sleep(1.0)  # pool processes forked and idle

    def stop(self) -> None:
        # SIGTERM to the main process only: a warm shutdown, which lets a running task (e.g. the one
        # building the finished batch's rollups) end; the pool children would die at once on their own.
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.procs = []


def seed(standin_url: str, *, cases: int):
    from promptlib.batches.datasets import CaseData, cases_add, dataset_create
    from promptlib.core.models import Project
    from promptlib.experiments.services import VariantSpec, experiment_create
    from promptlib.prompts.content import VersionContent
    from promptlib.prompts.services import template_create, version_create
    from promptlib.providers.limits import limiter_for
    from promptlib.providers.models import ProviderConfig

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


class CpuMeter:
    """CPU seconds (user + system) used by each party on this machine, read from /proc."""

    PARTIES = ("workers", "stand-in", "PostgreSQL", "Redis", "this script")

    def __init__(self, standin_pid: int) -> None:
        self.standin_pid, self.tick = standin_pid, os.sysconf("SC_CLK_TCK")

    def _party(self, pid: int, cmdline: str, comm: str) -> str | None:
        if pid == os.getpid():
            return "this script"
        if pid == self.standin_pid:
            return "stand-in"
        if "celery" in cmdline and " worker " in cmdline:
            return "workers"
        if comm.startswith("postgres"):
            return "PostgreSQL"
        if comm.startswith("redis"):
            return "Redis"
        return None

    def read(self) -> dict[tuple[int, str], float]:
        used = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
                cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue  # gone meanwhile
            comm, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
            party = self._party(int(entry.name), cmdline, comm)
            if party:
                used[(int(entry.name), party)] = (int(fields[11]) + int(fields[12])) / self.tick
        return used

    @staticmethod
    def per_call(before: dict, after: dict, calls: int) -> dict[str, float]:
        """Milliseconds of CPU per call by party (processes that started meanwhile count from 0)."""
        ms = dict.fromkeys(CpuMeter.PARTIES, 0.0)
        for key, seconds in after.items():
            ms[key[1]] += (seconds - before.get(key, 0.0)) * 1000 / calls
        return ms


def run_batch(experiment, dataset, provider, *, calls: int, timeout: float = 600) -> tuple[float, float]:
    """Start a batch of `calls` calls and wait for its end; returns (wall seconds, start as time.time()).

    The end is the last result's finished_at (stamped as it is stored), not when this loop noticed.
    """
    from django.db import connection
    from django.db.models import Max

    from promptlib.batches.models import Batch, BatchItem
    from promptlib.batches.services import BatchSettings, batch_create, batch_start

    repeats = max(1, calls // (2 * dataset.cases.count()))
    settings = BatchSettings(
        experiment=experiment, dataset=dataset, provider=provider, model="standin", repeats=repeats
    )
    batch = batch_create(settings=settings)
    started = time.time()
    batch_start(batch=batch)
    deadline = time.monotonic() + timeout
    # A batch of more than PROMPTLIB_BATCH_PREPARE_INLINE_ITEMS calls is still preparing at first.
    open_ = [Batch.Status.PREPARING, Batch.Status.RUNNING]
    while Batch.objects.filter(pk=batch.pk, status__in=open_).exists():
        if time.monotonic() > deadline:
            raise SystemExit("The batch did not finish in time.")
        time.sleep(0.2)  # the end is read from finished_at, so polling more often would only take CPU
    connection.close()
    done = BatchItem.objects.filter(batch=batch, status=BatchItem.Status.DONE).count()
    if done != batch.total:
        raise SystemExit(f"Only {done} of {batch.total} calls succeeded.")
    last = BatchItem.objects.filter(batch=batch).aggregate(last=Max("finished_at"))["last"]
    return last.timestamp() - started, started


def bare_sdk_rate(standin: Standin, calls: int, *, post: bool = False) -> tuple[float, float]:
    """Sequential calls from one thread through `chat.completions.create`, or (post=True) through the SDK's
    `client.post` with the same body, the way promptlib's OpenAI provider sends it; (calls/s, CPU ms per call
    of this process)."""
    import openai
    from openai.types.chat import ChatCompletion

    client = openai.OpenAI(base_url=f"{standin.url}/v1", api_key="not-needed", max_retries=0)
    messages = [{"role": "user", "content": "Ticket: ticket 1"}]

    def call() -> None:
        if post:
            body = {"model": "standin", "messages": messages}
            client.post(
                "/chat/completions", body=body, cast_to=ChatCompletion, options={"security": {"bearer_auth": True}}
            )
        else:
            client.chat.completions.create(model="standin", messages=messages)

    call()  # warm the connection
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        call()
    return calls / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / calls


class FlushWatch:
    """A key of our own in the Redis database: gone means someone flushed it (and the limiter's leases with it)."""

    def __init__(self, url: str) -> None:
        import redis

        self.client, self.key = redis.Redis.from_url(url), f"bench-batches:flush-watch:{uuid.uuid4().hex}"
        self.client.set(self.key, "1", ex=3600)

    def flushed(self) -> bool:
        gone = not self.client.exists(self.key)
        self.client.set(self.key, "1", ex=3600)
        return gone


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency-calls", type=int, default=1000)
    parser.add_argument("--overhead-calls", type=int, default=4000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=20)
    # The same provider cap for 1 and 2 processes (like with like), and as in (a). With answers at once
    # a few calls in flight keep a process's CPU busy; a small cap shared by two processes (6 before)
    # would be the bottleneck instead of the engine.
    parser.add_argument("--overhead-concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1, help="overhead-bound runs per process count")
    parser.add_argument("--database", default=DB_NAME, help="database to (re)create on DATABASE_URL's server")
    parser.add_argument(
        "--all", action="store_true", help="then run (c) fault mix, (d) kill recovery, (e) item creation"
    )
    args = parser.parse_args()
    database_url, redis_url = production_urls()
    env = worker_env(bench_database(database_url, args.database), redis_url)
    django_start(env)
    from django.conf import settings

    from promptlib.batches.runner import threads_for as threads

    max_threads = settings.PROMPTLIB_BATCH_MAX_THREADS

    flush_watch = FlushWatch(redis_url)
    standin = Standin(latency=args.latency)
    workers = Workers(env)
    loads = {}
    try:
        experiment, dataset, provider = seed(standin.url, cases=100)
        provider.max_concurrency = args.concurrency
        provider.save(update_fields=["max_concurrency"])

        # (a) latency-bound
        workers.start(processes=2)
        loads["a"] = load()
        wall_a, started_a = run_batch(experiment, dataset, provider, calls=args.latency_calls)
        stats_a = standin.stats()
        flushed = {"a": flush_watch.flushed()}
        arrivals = stats_a["timestamps"]
        startup, tail = min(arrivals) - started_a, started_a + wall_a - (max(arrivals) + args.latency)
        workers.stop()

        # (b) overhead-bound
        standin.control(latency=0.0)
        provider.max_concurrency = args.overhead_concurrency
        provider.save(update_fields=["max_concurrency"])
        # Rounds alternate 1 and 2 processes, so that a change in the machine's load hits both alike.
        runs: dict[int, list[tuple[float, str, dict[str, float]]]] = {1: [], 2: []}
        meter = CpuMeter(standin.proc.pid)
        peaks = {1: 0, 2: 0}
        for _ in range(args.rounds):
            for processes in (1, 2):
                standin.reset()
                workers.start(processes=processes)
                before, cpu_before = load(), meter.read()
                wall, _ = run_batch(experiment, dataset, provider, calls=args.overhead_calls)
                cpu = CpuMeter.per_call(cpu_before, meter.read(), args.overhead_calls)
                runs[processes].append((args.overhead_calls / wall, before, cpu))
                peaks[processes] = max(peaks[processes], standin.stats()["max_in_flight"])
                flushed[processes] = flushed.get(processes, False) or flush_watch.flushed()
                workers.stop()
        rates = {n: statistics.median(rate for rate, _, _ in runs[n]) for n in runs}
        loads["sdk"] = load()
        bare, bare_cpu = bare_sdk_rate(standin, calls=1000)
        bare_post, bare_post_cpu = bare_sdk_rate(standin, calls=1000, post=True)
    finally:
        workers.stop()
        standin.stop()

    ideal = args.latency_calls * args.latency / args.concurrency
    ratio = wall_a / ideal
    scale = rates[2] / rates[1]
    chunk = env["PROMPTLIB_BATCH_CHUNK_SIZE"]
    ok = lambda good: "OK" if good else "MISSED"  # noqa: E731
    print()
    print("Batch engine benchmark (Redis broker + PostgreSQL, prefork workers, real openai SDK)")
    print(f"    chunk size {chunk}; threads per worker process = the provider cap ÷ processes (at most {max_threads}); "
          f"machine: {os.cpu_count()} CPUs shared by stand-in, PostgreSQL, Redis and workers")  # fmt: skip
    print(f"(a) latency-bound : {args.latency_calls} calls, cap {args.concurrency}, {args.latency * 1000:.0f} ms each, "
          f"2 worker processes × {threads(args.concurrency, 2)} threads   [{loads['a']}]")  # fmt: skip
    print(f"    wall {wall_a:.2f} s   ideal {ideal:.2f} s   ratio {ratio:.3f}×  (target ≤ 1.1×) {ok(ratio <= 1.1)}")
    print(f"    first call {startup:.2f} s after the start, last result stored {tail:.2f} s after the last answer")
    print(f"    max in flight seen by the stand-in: {stats_a['max_in_flight']} (cap {args.concurrency})")
    if any(flushed.values()):
        runs_hit = ", ".join(str(k) for k, hit in flushed.items() if hit)
        print(f"    WARNING: Redis was flushed during run(s) {runs_hit} (e.g. by a test's cache.clear() on this")
        print("    REDIS_URL): the limiter's leases were lost, so the in-flight peaks of those runs prove nothing.")
    threads_b = " and ".join(str(threads(args.overhead_concurrency, n)) for n in (1, 2))
    print(f"(b) overhead-bound: {args.overhead_calls} calls, cap {args.overhead_concurrency} (shared by all "
          f"processes), {threads_b} threads per process with 1 and 2, stand-in answering at once")  # fmt: skip
    median = " (median of the rounds)" if args.rounds > 1 else ""
    for n in (1, 2):
        label = f"{n} worker process" + ("es" if n > 1 else "")
        target = f"(target ≥ 200) {ok(rates[2] >= 200)}" if n == 2 else "             "
        print(f"    {label:<22}{rates[n]:8.1f} calls/s{median}   {target}  max in flight {peaks[n]}")
        for rate, before, cpu in runs[n]:
            parts = "  ".join(f"{party} {ms:.2f}" for party, ms in cpu.items())
            print(f"        {rate:8.1f} calls/s   [{before}]   CPU ms/call: {parts}")
    print(f"    {'scale-out':<22}{scale:8.2f}×        (target ≥ 1.6×) {ok(scale >= 1.6)}")
    print(f"    {'bare openai SDK':<22}{bare:8.1f} calls/s   (one thread, sequential, no database)   [{loads['sdk']}]"
          f"   CPU ms/call: {bare_cpu:.2f}")  # fmt: skip
    print(f"    {'bare SDK, client.post':<22}{bare_post:8.1f} calls/s   (the same calls sent as promptlib's "
          f"provider sends them: no argument walk)   CPU ms/call: {bare_post_cpu:.2f}")  # fmt: skip
    vs_bare = rates[2] / bare
    print(f"    {'2 processes ÷ bare SDK':<22}{vs_bare:8.2f}×        (target ≥ 0.9×) {ok(vs_bare >= 0.9)}")
    print(
        f"    {'2 processes ÷ bare post':<22}{rates[2] / bare_post:8.2f}×        (like with like: both skip the walk)"
    )
    if args.all:
        summary = {"a": (f"{ratio:.3f}× ideal", "≤ 1.1×"), "b": (f"{vs_bare:.2f}× bare SDK", "≥ 0.9×")}
        summary |= run_others()
        print()
        print("Summary (one run, same machine)")
        for key, (figure, target) in summary.items():
            print(f"    ({key}) {figure:<58} target {target}")


def _s(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.0f} s"


def run_others() -> dict[str, tuple[str, str]]:
    """(c), (d) and (e), each its own script in its own process and database, one after the other."""
    out = {}
    for key, script in (("c", "batches_faults.py"), ("d", "batches_recovery.py"), ("e", "batches_create.py")):
        path = Path(tempfile.mkstemp(suffix=".json")[1])
        print(f"\n--- ({key}) bench/{script}", flush=True)
        subprocess.run(
            [sys.executable, str(BASE_DIR / "bench" / script), "--json", str(path)], cwd=BASE_DIR, check=True
        )  # noqa: S603
        figures = json.loads(path.read_text())
        path.unlink()
        if key == "c":
            out[key] = (
                f"{figures['wall']:.0f} s = {figures['ratio_mix']:.2f}× the fault mix's RPM-bound ideal",
                "≤ 1.3×",
            )
        elif key == "d":
            killed, lease = figures["killed"], figures["lease"]
            out[key] = (
                f"items back {killed['released']:.0f} s, throughput back {killed['back']:.0f} s after the kill; "
                f"wall {killed['wall'] / figures['untouched']['wall']:.2f}× untouched",
                f"≤ {lease + 15:g} s",
            )
        else:
            out[key] = (
                f"{figures['items']:,} items at {figures['items_per_second']:,.0f}/s; POST "
                f"{figures['post_seconds'] * 1000:.0f} ms",
                "≥ 50,000/s, < 1 s",
            )
    return out


if __name__ == "__main__":
    main()
