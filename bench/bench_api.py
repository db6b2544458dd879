"""API benchmark: render throughput against the framework's floor, and bulk outcome ingestion.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/bench_api.py [--duration 10] [--rounds 2] [--workers 2 --threads 8]

Creates a fresh database (promptlib_bench on DATABASE_URL's server), migrates it, seeds a project
with a template, a production label, a running experiment and an API key, then starts the app under
gunicorn and drives it with wrk (32 connections):

  ping        POST /api/v1/ping: same middleware, authentication, permission, throttle and JSON
              parsing as render, and nothing else: the floor.
  render      POST /api/v1/templates/<slug>/render with a label and variables.
  render+exp  the same with a random subject, so the running experiment assigns a variant and a
              render_id is signed.

Then it posts outcomes in requests of 1,000 events from a few threads, reports events/s, resends
one request to see it counted as duplicates, and checks in the database that every event was
stored exactly once. Prints figures and whether the targets are met; see bench/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import bench_database, bench_env, django_start, production_urls  # noqa: E402

SLUG = "welcome-email"
RENDER_BODY = {"variables": {"name": "Ann", "plan": "pro"}}
TARGET_RATIO, TARGET_P99, TARGET_EVENTS = 0.9, 1.2, 3000

LUA_COMMON = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
wrk.body = '{body}'
local shown = 0
response = function(status, headers, body)
  if status ~= 200 and shown < 3 then
    shown = shown + 1
    io.write("FAILED " .. status .. " " .. body .. "\\n")
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT {{\\"requests\\":%d,\\"duration_us\\":%d,\\"p50_us\\":%d,\\"p90_us\\":%d,\\"p99_us\\":%d," ..
    "\\"errors\\":%d,\\"non_2xx\\":%d}}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
end
"""
# A random subject per request: the experiment assigns a variant and a render_id is signed.
LUA_SUBJECT = """
request = function()
  return wrk.format(nil, nil, nil, '{"variables":{"name":"Ann","plan":"pro"},"subject":"user-' ..
    math.random(1, 1000000) .. '"}')
end
"""


@dataclass
class WrkResult:
    name: str
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    failures: int
    cpu_ms: float  # CPU the gunicorn workers spent per request: the figure a busy machine disturbs least


# --- setup -------------------------------------------------------------------------------------------


def server_env(database_url: str, redis_url: str) -> dict[str, str]:
    # The rate limit stays on (it is part of every request's cost) but high enough not to trip.
    return bench_env(database_url, redis_url, PROMPTLIB_API_RATE="1000000000/min")


def seed() -> str:
    """A project with a published template, a running experiment and a read key; returns the key."""
    from promptlib.core.apikeys import api_key_create
    from promptlib.core.models import Project
    from promptlib.experiments.services import VariantSpec, experiment_create, experiment_start
    from promptlib.prompts.content import VersionContent
    from promptlib.prompts.services import label_move, template_create, version_create

    project = Project.objects.create(slug="bench", name="Bench")
    template = template_create(project=project, slug=SLUG, title="Welcome email")
    content = VersionContent(
        role="You are the voice of {{ brand }}, a friendly software company.",
        task="Write a welcome email to {{ name }}, who just signed up for the {{ plan }} plan.",
        context="{% if plan == 'pro' %}Pro customers get priority support.{% endif %}",
        format="Plain text, at most {{ max_words }} words.",
        constraints="Never promise discounts. Do not invent features.",
        examples=[{"input": "Name: Ann, plan: free", "output": "Hi Ann, welcome to {{ brand }}!"}],
        variables=[
            {"name": "brand", "type": "string", "required": False, "default": "Acme", "description": ""},
            {"name": "name", "type": "string", "required": True, "default": None, "description": ""},
            {"name": "plan", "type": "string", "required": False, "default": "free", "description": ""},
            {"name": "max_words", "type": "integer", "required": False, "default": 120, "description": ""},
        ],
        provider="openai",
        model="gpt-4o-mini",
        temperature=0.7,
        max_tokens=400,
    )
    v1, _ = version_create(template=template, content=content)
    v2, _ = version_create(template=template, content=dataclasses.replace(content, max_tokens=300))
    label_move(template=template, name="production", version=v1)
    experiment = experiment_create(
        template=template,
        name="Shorter answers",
        variants=[VariantSpec("control", v1, is_control=True), VariantSpec("short", v2)],
    )
    experiment_start(experiment=experiment)
    return api_key_create(project=project, scopes="read", name="bench")[1]


def gunicorn_start(args, env: dict[str, str]) -> subprocess.Popen:
    command = [
        str(ROOT / ".venv/bin/gunicorn"),
        "config.wsgi",
        f"--workers={args.workers}",
        f"--bind=127.0.0.1:{args.port}",
        "--log-level=warning",
        f"--backlog={max(64, args.connections * 4)}",
    ]
    if args.threads > 1:
        command += ["--worker-class=gthread", f"--threads={args.threads}", "--keep-alive=30"]
    return subprocess.Popen(command, cwd=ROOT, env=env)


def wait_ready(base: str, key: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{base}/api/v1/ping", headers={"Authorization": f"Bearer {key}"}, timeout=2)
            if response.status_code == 200:
                return
            raise SystemExit(f"ping answered {response.status_code}: {response.text[:300]}")
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


# --- load ------------------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def wrk_run(*, name: str, url: str, lua: str, args, server_pid: int) -> WrkResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    command = ["wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{args.duration}s", "-s", script.name]
    workers = _children(server_pid)
    cpu_before = cpu_seconds(workers)
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(workers) - cpu_before
    os.unlink(script.name)
    for line in out.splitlines():
        if line.startswith("FAILED "):
            print(f"  {name}: {line[:300]}", file=sys.stderr)
    data = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT ")).split(" ", 1)[1])
    return WrkResult(
        name=name,
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        failures=data["errors"] + data["non_2xx"],
        cpu_ms=cpu * 1000 / max(1, data["requests"]),
    )


def render_ids(base: str, key: str, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {key}"}
    ids = []
    with httpx.Client(base_url=base, headers=headers) as client:
        for n in range(count):
            body = {**RENDER_BODY, "subject": f"outcome-user-{n}"}
            response = client.post(f"/api/v1/templates/{SLUG}/render", json=body)
            response.raise_for_status()
            ids.append(response.json()["render_id"])
    return ids


def outcome_bodies(ids: list[str], requests: int, per_request: int) -> list[bytes]:
    bodies = []
    for r in range(requests):
        events = []
        for n in range(per_request):
            event = {"render_id": ids[(r * per_request + n) % len(ids)], "event_id": str(uuid.uuid4())}
            if n % 2:
                event.update(metric="task_success_rate", value=n % 3 != 0)
            else:
                event.update(metric="csat", value=float(n % 5 + 1))
            events.append(event)
        bodies.append(json.dumps({"events": events}).encode())
    return bodies


def outcomes_post(base: str, key: str, bodies: list[bytes], concurrency: int) -> tuple[float, list[dict], list[float]]:
    """Post all bodies from `concurrency` threads; (seconds, reports, per-request seconds)."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    queue = list(enumerate(bodies))
    lock = threading.Lock()
    reports: list[dict] = [{}] * len(bodies)
    latencies: list[float] = []

    def worker() -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    index, body = queue.pop(0)
                started = time.perf_counter()
                response = client.post("/api/v1/outcomes", content=body)
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                with lock:
                    reports[index] = response.json()
                    latencies.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, reports, latencies


# --- report ----------------------------------------------------------------------------------------------


def combine(results: list[WrkResult]) -> WrkResult:
    """The median of each figure over the rounds (a neighbour's burst of work spoils one round, not all)."""
    return WrkResult(
        name=results[0].name,
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p90_ms=statistics.median(r.p90_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        failures=sum(r.failures for r in results),
        cpu_ms=statistics.median(r.cpu_ms for r in results),
    )


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="ping/render/render+exp runs, interleaved")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker (1 = sync workers)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--db-name", default="promptlib_bench")
    parser.add_argument("--outcome-requests", type=int, default=40, help="bulk requests of 1,000 events")
    parser.add_argument("--outcome-concurrency", type=int, default=4)
    args = parser.parse_args()

    database_url, redis_url = production_urls()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")

    load_before = os.getloadavg()[0]
    env = server_env(bench_database(database_url, args.db_name), redis_url)
    django_start(env)
    key = seed()

    base = f"http://127.0.0.1:{args.port}"
    server = gunicorn_start(args, env)
    try:
        wait_ready(base, key)
        render_body = json.dumps(RENDER_BODY)
        common = {"key": key, "body": render_body}
        runs = [
            ("ping", f"{base}/api/v1/ping", LUA_COMMON.format(**common)),
            ("render", f"{base}/api/v1/templates/{SLUG}/render", LUA_COMMON.format(**common)),
            ("render+exp", f"{base}/api/v1/templates/{SLUG}/render", LUA_COMMON.format(**common) + LUA_SUBJECT),
        ]
        ids = render_ids(base, key, 50)  # also warms every worker's caches
        for name, url, lua in runs:  # warm-up
            warm = argparse.Namespace(**{**vars(args), "duration": 2})
            wrk_run(name=name, url=url, lua=lua, args=warm, server_pid=server.pid)
        results: dict[str, list[WrkResult]] = {name: [] for name, _, _ in runs}
        for _ in range(args.rounds):
            for name, url, lua in runs:
                results[name].append(wrk_run(name=name, url=url, lua=lua, args=args, server_pid=server.pid))

        bodies = outcome_bodies(ids, args.outcome_requests, 1000)
        seconds, reports, latencies = outcomes_post(base, key, bodies, args.outcome_concurrency)
        _, resent, _ = outcomes_post(base, key, bodies[:1], 1)
    finally:
        server.terminate()
        server.wait(timeout=30)

    mode = f"gthread, {args.threads} threads" if args.threads > 1 else "sync"
    print(f"\ngunicorn: {args.workers} workers ({mode}); wrk: {args.wrk_threads} thread(s), {args.connections} conn.")
    print(f"{os.cpu_count()} CPUs, shared by the server, PostgreSQL, Redis and the load generator.")
    load = f"1-minute load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    print(f"{load}: above ~{os.cpu_count()} other work competed for the CPUs and req/s are lower.\n")
    header = f"{'endpoint':<12} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'failed':>7} {'CPU ms/req':>11}"
    print(f"{header}   req/s per round (the table shows medians)")
    summary = {}
    for name, rounds in results.items():
        mean = summary[name] = combine(rounds)
        per_round = " ".join(f"{r.rps:.0f}" for r in rounds)
        print(
            f"{name:<12} {mean.rps:>9.0f} {mean.p50_ms:>8.2f} {mean.p90_ms:>8.2f} {mean.p99_ms:>8.2f} "
            f"{mean.failures:>7} {mean.cpu_ms:>11.3f}   {per_round}"
        )
    floor = summary["ping"]
    print()
    for name in ("render", "render+exp"):
        ratio = summary[name].rps / floor.rps
        p99 = summary[name].p99_ms / floor.p99_ms
        cpu = floor.cpu_ms / summary[name].cpu_ms
        print(
            f"{name:<12} throughput {ratio:.2f} × floor (target ≥ {TARGET_RATIO}: {verdict(ratio >= TARGET_RATIO)}); "
            f"p99 {p99:.2f} × floor p99 (target ≤ {TARGET_P99}: {verdict(p99 <= TARGET_P99)}); "
            f"by CPU per request {cpu:.2f} × floor"
        )
        # Each round against the ping run just before it: a neighbour's burst of work hits both alike.
        paired = [(r.rps / f.rps, f.cpu_ms / r.cpu_ms) for r, f in zip(results[name], results["ping"], strict=True)]
        print(
            f"{'':<12} per round against the ping run before it: req/s "
            + " ".join(f"{rps:.2f}" for rps, _ in paired)
            + "; by CPU "
            + " ".join(f"{cpu:.2f}" for _, cpu in paired)
        )

    from promptlib.experiments.models import OutcomeEvent

    sent = args.outcome_requests * 1000
    stored = sum(r["stored"] for r in reports)
    errors = sum(len(r["errors"]) for r in reports)
    rows = OutcomeEvent.objects.filter(project__slug="bench")
    count, distinct = rows.count(), rows.values("event_id").distinct().count()
    rate = sent / seconds
    print(
        f"\noutcomes: {sent} events in {args.outcome_requests} requests of 1,000 from "
        f"{args.outcome_concurrency} threads: {seconds:.2f} s, {rate:.0f} events/s "
        f"(target ≥ {TARGET_EVENTS}: {verdict(rate >= TARGET_EVENTS)}); "
        f"request p50 {statistics.median(latencies) * 1000:.0f} ms"
    )
    print(f"  reported stored {stored}, errors {errors}; resent one request: {resent[0]}")
    once = count == sent and distinct == sent and resent[0]["duplicates"] == 1000
    print(f"  rows {count}, distinct event_ids {distinct}: each event stored exactly once: {verdict(once)}")


if __name__ == "__main__":
    main()
