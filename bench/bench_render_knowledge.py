"""Warm render with retrieval against the same render without, side by side in one run.

    .venv/bin/python bench/bench_render_knowledge.py [--requests 3000] [--rounds 5]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/bench_render_knowledge.py

In process, through Django's test client (every middleware, API key authentication, throttle,
parsing and the JSON response), on a fresh database: a temporary SQLite file without services, or
promptlib_bench_kb on DATABASE_URL's server (with REDIS_URL as the cache) when it is set. Seeds a
project with a published knowledge base (the coffee shop's policies and a 60-row catalogue),
two templates with the same sections — one plain, one whose version retrieves 4 passages into its
context (following `latest`) — and a read key; warms both, then alternates rounds of `--requests`
renders of each, a few distinct questions in turn, so that drift hits both alike. Prints req/s and
CPU time per request for each, and the ratio (target ≥ 0.8×).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import bench_database, bench_env  # noqa: E402

TARGET = 0.8
QUESTIONS = [
    "refund for an unopened bag",
    "shipping EUR",
    "Ethiopia Yirgacheffe EUR",
    "blend roast",
]
SECTIONS = {
    "role": "You answer customers of Northwind Coffee, warmly and briefly.",
    "task": "Answer the customer's question: {{ question }}",
    "format": "Plain text, at most 80 words.",
    "constraints": "Quote prices and policies exactly as the passages give them.",
}
KNOWLEDGE = "{% for k in knowledge %}[{{ k.id }}] {{ k.title }} ({{ k.source }}):\n{{ k.text }}\n\n{% endfor %}"


def _setup_environment() -> None:
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        url = bench_database(os.environ["DATABASE_URL"], "promptlib_bench_kb")
        os.environ.update(bench_env(url, os.environ.get("REDIS_URL", "")))
        if not os.environ["REDIS_URL"]:
            os.environ.pop("REDIS_URL")
    else:
        database = Path(tempfile.mkdtemp()) / "bench_kb.sqlite3"
        os.environ.update(DJANGO_SETTINGS_MODULE="config.settings", DEBUG="true", DATABASE_URL=f"sqlite:///{database}")
        os.environ.pop("REDIS_URL", None)
    os.environ.update(ALLOWED_HOSTS="testserver", PROMPTLIB_API_RATE="100000000/min", LOG_LEVEL="WARNING")


def _seed() -> str:
    from django.core.management import call_command

    from promptlib.core.apikeys import api_key_create
    from promptlib.core.models import Project
    from promptlib.knowledge.services import document_upload, knowledge_base_create, knowledge_publish
    from promptlib.prompts.content import VersionContent
    from promptlib.prompts.services import label_move, template_create, version_create

    call_command("migrate", verbosity=0, stdout=io.StringIO())
    project = Project.objects.create(slug="bench", name="Bench")
    kb = knowledge_base_create(project=project, name="coffee-shop")
    policies = (
        b"# Refunds\n\nUnopened bags can be returned within 30 days for a full refund.\n\n"
        b"# Shipping\n\nOrders over 40 EUR ship free within Germany; Austria and Switzerland pay 9.90 EUR.\n"
    )
    document_upload(knowledge_base=kb, source="policies.md", data=policies)
    rows = "\n".join(f"Blend {i},{10 + i % 9}.50 EUR,roast {i % 3}" for i in range(60))
    document_upload(knowledge_base=kb, source="catalogue.csv", data=f"name,price,notes\n{rows}\n".encode())
    document_upload(knowledge_base=kb, source="ethiopia.md", data=b"# Ethiopia Yirgacheffe\n\n16.00 EUR per 250 g.")
    knowledge_publish(knowledge_base=kb)
    variables = [{"name": "question", "type": "string", "required": True}]
    for slug, extra in (("plain", {}), ("grounded", {"retrieval": {
        "knowledge_base": "coffee-shop", "query": "{{ question }}", "top_k": 4}})):  # fmt: skip
        template = template_create(project=project, slug=slug, title=slug)
        context = KNOWLEDGE if extra else "Northwind Coffee roasts in Leipzig and ships across Europe."
        version, _ = version_create(
            template=template, content=VersionContent(**SECTIONS, context=context, variables=variables, **extra)
        )
        label_move(template=template, name="production", version=version)
    return api_key_create(project=project, scopes="read", name="bench")[1]


def _round(client, slug: str, count: int) -> tuple[float, float]:
    """(seconds, CPU seconds) for `count` renders of `slug`."""
    bodies = [json.dumps({"variables": {"question": q}}) for q in QUESTIONS]
    url = f"/api/v1/templates/{slug}/render"
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        response = client.post(url, bodies[i % len(bodies)], content_type="application/json")
        if response.status_code != 200:
            raise SystemExit(f"{slug}: {response.status_code} {response.content[:300]!r}")
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000, help="renders per round of each")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    _setup_environment()
    import django

    django.setup()
    from django.conf import settings
    from django.test import Client

    key = _seed()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    found = [
        client.post("/api/v1/templates/grounded/render", json.dumps({"variables": {"question": q}}),
                    content_type="application/json").json()["retrieval"]["passages"]
        for q in QUESTIONS
    ]  # fmt: skip
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"database: {engine}, cache: {'Redis' if settings.REDIS_URL else 'local memory'}; "
          f"passages per question: {[len(p) for p in found]}")  # fmt: skip
    for slug in ("plain", "grounded"):
        _round(client, slug, 200)  # warm: compiled sections, cached snapshot, passages and API key
    figures: dict[str, list[tuple[float, float]]] = {"plain": [], "grounded": []}
    for _ in range(args.rounds):
        for slug in ("plain", "grounded"):
            figures[slug].append(_round(client, slug, args.requests))
    rates = {}
    for slug, runs in figures.items():
        per_round = [args.requests / wall for wall, _ in runs]
        cpu_ms = [cpu / args.requests * 1000 for _, cpu in runs]
        rates[slug] = statistics.median(per_round)
        print(f"{'render' if slug == 'plain' else 'render + retrieval':<20} {rates[slug]:8,.0f} req/s "
              f"(median of {args.rounds} rounds of {args.requests}; "
              f"min {min(per_round):,.0f}, max {max(per_round):,.0f})"
              f"   CPU {statistics.median(cpu_ms):.3f} ms/request")  # fmt: skip
    ratio = rates["grounded"] / rates["plain"]
    print(
        f"ratio with/without retrieval: {ratio:.2f}x (target >= {TARGET}x): {'met' if ratio >= TARGET else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
