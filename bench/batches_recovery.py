"""Recovery after SIGKILL of a worker mid-batch: how soon its items run again and throughput is back.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python bench/batches_recovery.py [--calls 4000] [--latency 0.2] [--cap 8] [--lease 60]

Creates a fresh database (promptlib_bench_recovery), starts the stand-in provider, a `celery beat`
process (which runs the sweeper on its timer) and two Celery workers (prefork, one process each) on a
queue of their own, then runs the same batch twice: once untouched, and once with one worker killed
(SIGKILL to its process group: no shutdown, no acknowledgement) when 30% of the calls are done, a
replacement started at once as a supervisor would. Prints, for the killed run:

  released      seconds from the kill until none of the killed worker's items is still `running`
                (target: within lease + 15 s);
  back          seconds from the kill until the calls finished per second (3 s window) are back to
                90% of the rate before the kill;
  wall          the whole batch, against the untouched run's.

The provider's cap is shared by the workers through Redis; slots the killed process held come back
when promptlib/providers/limits.py lets them go, which the "back" figure includes.
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

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.bench_batches import Standin, seed, worker_env  # noqa: E402 - after the path is set
from bench.support import bench_database, django_start, production_urls  # noqa: E402

DB_NAME = "promptlib_bench_recovery"
CELERY = str(Path(sys.executable).with_name("celery"))


class Processes:
    """Celery workers and beat on one queue, each in its own process group (so a kill takes its pool too)."""

    def __init__(self, env: dict[str, str], queue: str) -> None:
        self.env, self.queue, self.procs = {**env, "CELERY_TASK_DEFAULT_QUEUE": queue}, queue, []
        self.victim: subprocess.Popen | None = None

    def _start(self, args: list[str], name: str, ready: str) -> subprocess.Popen:
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"recovery-{self.queue}-{name}.log"
        proc = subprocess.Popen(  # noqa: S603 - our own celery binary
            [CELERY, "-A", "config", *args], cwd=BASE_DIR, env=self.env, stdout=log.open("w"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.procs.append(proc)
        deadline = time.monotonic() + 120
        while ready not in log.read_text():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"{name} did not start; see {log}")
            time.sleep(0.2)
        return proc

    def worker(self, name: str) -> subprocess.Popen:
        return self._start(
            ["worker", "--pool=prefork", "--concurrency=1", "-Q", self.queue, "-n", f"{name}-{self.queue}@%h",
             "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            name, " ready.",
        )  # fmt: skip

    def beat(self) -> subprocess.Popen:
        schedule = Path(os.environ.get("TMPDIR", "/tmp")) / f"recovery-{self.queue}.beat"
        return self._start(["beat", "--loglevel=INFO", "-s", str(schedule)], "beat", "beat: Starting")

    def kill(self, proc: subprocess.Popen) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                self.kill(proc)


def _finish_times(batch_id: int) -> list[float]:
    from promptlib.batches.models import BatchItem

    stamps = BatchItem.objects.filter(batch_id=batch_id, finished_at__isnull=False).values_list(
        "finished_at", flat=True
    )
    return sorted(stamp.timestamp() for stamp in stamps)


def _rate(times: list[float], start: float, end: float) -> float:
    return sum(1 for t in times if start <= t < end) / (end - start) if end > start else 0.0


def _run(experiment, dataset, provider, *, calls: int, procs: Processes | None, kill_at: float) -> dict:
    """One batch; with `procs`, kill its first worker once `kill_at` of the calls are done and start another."""
    from django.db import connection

    from promptlib.batches.models import Batch, BatchItem
    from promptlib.batches.services import BatchSettings, batch_create, batch_start

    repeats = max(1, calls // (2 * dataset.cases.count()))
    batch = batch_create(settings=BatchSettings(experiment=experiment, dataset=dataset, provider=provider,
                                                model="standin", repeats=repeats))  # fmt: skip
    started = time.time()
    batch_start(batch=batch)
    killed_at = released_at = None
    victim_items: set[int] = set()
    while True:
        connection.close()
        status = Batch.objects.filter(pk=batch.pk).values_list("status", flat=True).get()
        if status != Batch.Status.RUNNING:
            break
        if procs is not None and killed_at is None:
            done = BatchItem.objects.filter(batch=batch, status=BatchItem.Status.DONE).count()
            if done >= kill_at * batch.total:
                procs.kill(procs.victim)
                killed_at = time.time()
                victim_items = set(
                    BatchItem.objects.filter(batch=batch, status=BatchItem.Status.RUNNING).values_list("id", flat=True)
                )
                procs.worker("replacement")
        elif killed_at is not None and released_at is None:
            # The survivor's items of that moment finish within a call; the dead worker's stay running,
            # with the claim they had, until their lease expires and the sweeper releases them.
            still = BatchItem.objects.filter(
                id__in=victim_items, status=BatchItem.Status.RUNNING, claimed_at__lt=_dt(killed_at)
            )
            if not still.exists():
                released_at = time.time()
        time.sleep(0.2)
    connection.close()
    done = BatchItem.objects.filter(batch=batch, status=BatchItem.Status.DONE).count()
    times = _finish_times(batch.pk)
    result = {"batch": batch.pk, "calls": batch.total, "done": done, "wall": times[-1] - started}
    if killed_at is not None:
        before = _rate(times, started + 0.1 * (killed_at - started), killed_at)
        back_at = next(
            (t for t in _seconds(killed_at, times[-1]) if _rate(times, t - 3, t) >= 0.9 * before), None
        )  # fmt: skip
        result.update(
            killed_at=killed_at - started,
            rate_before=before,
            released=(released_at - killed_at) if released_at else None,
            back=(back_at - killed_at) if back_at else None,
            lost_calls=BatchItem.objects.filter(id__in=victim_items, attempt_log__contains=[{"kind": "lost"}]).count(),
        )
    return result


def _dt(timestamp: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, tz=UTC)


def _seconds(start: float, end: float):
    t = start + 3
    while t <= end + 1:
        yield t
        t += 0.5


def kill_recovery(
    *, database_url: str, redis_url: str, calls: int = 4000, latency: float = 0.2, cap: int = 8, lease: float = 60.0,
    kill_at: float = 0.3, database: str = DB_NAME,
) -> dict:  # fmt: skip
    """Run the batch untouched, then with a worker killed at `kill_at`; returns both runs' figures."""
    env = worker_env(bench_database(database_url, database), redis_url)
    env["PROMPTLIB_BATCH_LEASE_SECONDS"] = str(lease)
    django_start(env)
    from django.conf import settings

    from promptlib.providers.limits import limiter_for

    standin = Standin(latency=latency)
    results = {"lease": lease, "sweep_every": settings.PROMPTLIB_BATCH_SWEEP_SECONDS, "latency": latency, "cap": cap}
    try:
        experiment, dataset, provider = seed(standin.url, cases=100)
        provider.max_concurrency = cap
        provider.save(update_fields=["max_concurrency"])
        for name in ("untouched", "killed"):
            limiter_for(provider).reset()
            queue = settings.CELERY_TASK_DEFAULT_QUEUE = f"recovery-{uuid.uuid4().hex[:8]}"
            procs = Processes(env, queue)
            try:
                procs.beat()
                procs.victim = procs.worker("victim")
                procs.worker("survivor")
                time.sleep(1.0)  # pool processes forked and idle
                results[name] = _run(experiment, dataset, provider, calls=calls,
                                     procs=procs if name == "killed" else None, kill_at=kill_at)  # fmt: skip
            finally:
                procs.stop()
    finally:
        standin.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--cap", type=int, default=8)
    parser.add_argument("--lease", type=float, default=60.0)
    parser.add_argument("--database", default=DB_NAME)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    database_url, redis_url = production_urls()
    r = kill_recovery(database_url=database_url, redis_url=redis_url, calls=args.calls, latency=args.latency,
                      cap=args.cap, lease=args.lease, database=args.database)  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(r, default=str))
    untouched, killed = r["untouched"], r["killed"]
    ideal = untouched["calls"] * r["latency"] / r["cap"]
    print(f"{untouched['calls']:,} calls, stand-in {r['latency'] * 1000:.0f} ms, cap {r['cap']}, "  # noqa: T201
          f"lease {r['lease']:g} s, sweep every {r['sweep_every']:g} s, 2 workers × 1 process + beat")  # fmt: skip
    print(f"untouched: wall {untouched['wall']:.1f} s (ideal {ideal:.1f} s), {untouched['done']} done")  # noqa: T201

    def fmt(value) -> str:
        return "never" if value is None else f"{value:.1f} s"

    print(  # noqa: T201
        f"killed at {killed['killed_at']:.1f} s ({killed['rate_before']:.1f} calls/s before): items released "
        f"after {fmt(killed['released'])} (target ≤ lease + 15 = {r['lease'] + 15:g} s), throughput back "
        f"after {fmt(killed['back'])}; {killed['lost_calls']} calls counted as lost; wall {killed['wall']:.1f} s "
        f"= {killed['wall'] / untouched['wall']:.2f}× untouched, {killed['done']} done"
    )


if __name__ == "__main__":
    main()
