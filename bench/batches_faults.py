"""Bench (c): a batch against a provider that fails the way real ones do, vs its RPM-bound ideal.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python bench/batches_faults.py [--calls 240] [--rpm 120] [--cap 5]

Real Celery workers (prefork, 2 processes), the real openai SDK, and the stand-in answering in 200 ms
with this mix per request: 10% 429 (Retry-After 1 s), 10% 500, 5% hangs of 30 s (the provider's
timeout is 30 s too). Provider cap 5 in flight, 120 requests per minute, 240 calls.

The ideal is what the RPM budget allows: calls ÷ RPM minutes (240 at 120 RPM: 120 s; target ≤ 1.3×).
Failed attempts count against a provider's per-minute limit too, so the run also prints the ideal
for the requests the stand-in actually saw, and the most requests it saw in any 60 s window (which
must not exceed the RPM) and in flight at once (which must not exceed the cap).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from bisect import bisect_left
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.bench_batches import Standin, Workers, seed, worker_env  # noqa: E402 - after the path is set
from bench.support import bench_database, django_start, production_urls  # noqa: E402

DB_NAME = "promptlib_bench_faults"
FAULTS = [
    {"rate": 0.10, "status": 429, "retry_after": 1},
    {"rate": 0.10, "status": 500},
    {"rate": 0.05, "hang": 30},
]
FAULT_RATE = sum(f["rate"] for f in FAULTS)  # the hangs outlast the provider's 30 s timeout: failures too


def max_in_window(timestamps: list[float], window: float) -> int:
    """The most arrivals in any `window` seconds (a sliding window starting at each arrival)."""
    times = sorted(timestamps)
    return max((bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


def _wait_for_end(batch, timeout: float) -> float:
    """Seconds from now to the batch's last stored result (polls until it is no longer running)."""
    from django.db import connection
    from django.db.models import Max

    from promptlib.batches.models import Batch, BatchItem

    deadline = time.monotonic() + timeout
    while Batch.objects.filter(pk=batch.pk, status=Batch.Status.RUNNING).exists():
        if time.monotonic() > deadline:
            raise SystemExit("The batch did not finish in time.")
        time.sleep(0.5)
    connection.close()
    return BatchItem.objects.filter(batch=batch).aggregate(last=Max("finished_at"))["last"].timestamp()


def fault_mix(*, calls: int = 240, rpm: int = 120, cap: int = 5, processes: int = 2, latency: float = 0.2,
              seed_value: int = 1, timeout: float = 900) -> dict:  # fmt: skip
    """Run one batch of `calls` calls against the faulty stand-in; returns its figures (Django set up)."""
    from promptlib.batches.models import BatchItem
    from promptlib.batches.services import BatchSettings, batch_create, batch_start

    standin = Standin(latency=latency)
    workers = Workers(dict(os.environ))
    try:
        experiment, dataset, provider = seed(standin.url, cases=max(1, calls // 2))
        provider.max_concurrency, provider.rpm_limit, provider.max_retries = cap, rpm, 5
        provider.save(update_fields=["max_concurrency", "rpm_limit", "max_retries"])
        standin.control(seed=seed_value, fault_mix=FAULTS)
        workers.start(processes=processes)
        standin.reset()
        settings = BatchSettings(experiment=experiment, dataset=dataset, provider=provider, model="standin")
        batch = batch_create(settings=settings)
        started = time.time()
        batch_start(batch=batch)
        wall = _wait_for_end(batch, timeout) - started
        stats = standin.stats()
    finally:
        workers.stop()
        standin.stop()
    items = BatchItem.objects.filter(batch=batch)
    arrivals = stats["timestamps"]
    return {
        "calls": items.count(),
        "done": items.filter(status=BatchItem.Status.DONE).count(),
        "failed": items.filter(status=BatchItem.Status.FAILED).count(),
        "wall": wall,
        "ideal": items.count() * 60 / rpm,
        "ratio": wall / (items.count() * 60 / rpm),
        # The provider counts failed requests against its RPM too: with a share f of requests failing
        # (429, 500, a hang past the timeout), a call takes 1 / (1 − f) requests on average.
        "ideal_mix": items.count() / (1 - FAULT_RATE) * 60 / rpm,
        "ratio_mix": wall / (items.count() / (1 - FAULT_RATE) * 60 / rpm),
        "requests": stats["requests"],
        "ideal_requests": stats["requests"] * 60 / rpm,
        "max_per_minute": max_in_window(arrivals, 60.0),
        "max_in_flight": stats["max_in_flight"],
        "faults": stats["faults"],
        # Each hang holds a slot for the provider's timeout (30 s) plus the limiter's margin: a floor
        # on the wall time however well the rest is scheduled.
        "hang_floor": stats["faults"].get("hang", 0) * (provider.timeout_seconds + 2) / cap,
        "rpm": rpm,
        "cap": cap,
        "arrivals": [t - started for t in arrivals],
    }


def report(figures: dict) -> str:
    f = figures
    verdict = "OK" if f["ratio_mix"] <= 1.3 else "MISSED"
    return "\n".join([
        f"(c) fault mix: {f['calls']} calls, cap {f['cap']}, {f['rpm']} RPM; 10% 429 (Retry-After 1 s), "
        "10% 500, 5% 30 s hangs",
        f"    wall {f['wall']:.1f} s   the fault mix's RPM-bound ideal {f['ideal_mix']:.1f} s ({f['calls']} calls ÷ "
        f"{1 - FAULT_RATE:.2f} successful requests per request ÷ {f['rpm']} RPM)   ratio {f['ratio_mix']:.2f}×  "
        f"(target ≤ 1.3×) {verdict}",
        f"    against calls ÷ RPM alone ({f['ideal']:.1f} s, as if failed requests did not count): {f['ratio']:.2f}×",
        f"    {f['done']} done, {f['failed']} failed; the stand-in saw {f['requests']} requests "
        f"(their RPM-bound ideal {f['ideal_requests']:.1f} s: ratio {f['wall'] / f['ideal_requests']:.2f}×)",
        f"    faults drawn {f['faults']}: the hangs alone hold the {f['cap']} slots for {f['hang_floor']:.1f} s",
        f"    most requests in any 60 s window {f['max_per_minute']} (RPM {f['rpm']}); "
        f"most in flight {f['max_in_flight']} (cap {f['cap']})",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=240)
    parser.add_argument("--rpm", type=int, default=120)
    parser.add_argument("--cap", type=int, default=5)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1, help="the stand-in's random seed for the fault mix")
    parser.add_argument(
        "--dump", "--json", help="write the figures, with each request's arrival time, to this JSON file"
    )
    parser.add_argument("--database", default=DB_NAME, help="database to (re)create on DATABASE_URL's server")
    args = parser.parse_args()
    database_url, redis_url = production_urls()
    env = worker_env(bench_database(database_url, args.database), redis_url)
    django_start(env)
    figures = fault_mix(calls=args.calls, rpm=args.rpm, cap=args.cap, processes=args.processes, seed_value=args.seed)
    if args.dump:
        Path(args.dump).write_text(json.dumps(figures))
    print()
    print(report(figures))


if __name__ == "__main__":
    main()
