"""Creating a big batch: the POST's time and the rate at which its items are written, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python bench/batches_create.py [--cases 50000] [--repeats 4] [--rounds 1]

Creates a fresh database (promptlib_bench_create on DATABASE_URL's server), seeds an experiment with
two variants and a dataset of --cases cases, starts one Celery worker (prefork, 1 process), then POSTs
`/api/v1/batches` (after one GET, which loads the API's modules) for cases × 2 variants × repeats items
(400,000 by default) through Django's test client with an API key, as a script would. Prints the
POST's wall time, then the time until the batch left `preparing` (the worker's batch_prepare task
wrote every item) and the items written per second from the POST's end (target ≥ 50,000/s), which
includes the task's trip through Redis to the worker.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.bench_batches import Workers, worker_env  # noqa: E402 - after the path is set
from bench.support import bench_database, django_start, production_urls  # noqa: E402

DB_NAME = "promptlib_bench_create"


def seed(*, cases: int):
    from promptlib.batches.datasets import dataset_create
    from promptlib.batches.models import DatasetCase
    from promptlib.core.apikeys import api_key_create
    from promptlib.core.models import Project
    from promptlib.experiments.services import VariantSpec, experiment_create
    from promptlib.prompts.content import VersionContent
    from promptlib.prompts.services import template_create, version_create
    from promptlib.providers.models import ProviderConfig

    project = Project.objects.create(slug=f"bench-{uuid.uuid4().hex[:6]}", name="Bench")
    ProviderConfig.objects.create(project=project, name="demo", kind="demo", models=["demo-model"])
    template = template_create(project=project, slug="triage", title="Triage")

    def content(task: str) -> VersionContent:
        return VersionContent(role="You route tickets.", task=task, context="Ticket: {{ ticket }}", provider="demo",
                              model="demo-model",
                              variables=[{"name": "ticket", "type": "string", "required": True}])  # fmt: skip

    v1, _ = version_create(template=template, content=content("Classify the ticket."))
    v2, _ = version_create(template=template, content=content("Classify the ticket into one category."))
    experiment = experiment_create(
        template=template, name="bench",
        variants=[VariantSpec(key="control", version=v1, is_control=True), VariantSpec(key="b", version=v2)],
    )  # fmt: skip
    dataset = dataset_create(project=project, name="tickets")
    DatasetCase.objects.bulk_create(
        (DatasetCase(dataset=dataset, position=i + 1, input={"ticket": f"ticket {i}"}) for i in range(cases)),
        batch_size=5000,
    )
    key = api_key_create(project=project, scopes="read,write", name="bench")[1]
    return experiment, dataset, key


def create_once(experiment, dataset, key: str, *, repeats: int, timeout: float = 600) -> dict:
    from django.db import connection
    from rest_framework.test import APIClient

    from promptlib.batches.models import Batch, BatchItem

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    body = {"experiment": experiment.pk, "dataset": dataset.name, "repeats": repeats, "start": False}
    # The process's first request imports the API's modules (~2 s here), whatever it asks: not the batch's cost.
    client.get("/api/v1/batches", HTTP_HOST="127.0.0.1")
    started = time.monotonic()
    response = client.post("/api/v1/batches", body, format="json", HTTP_HOST="127.0.0.1")
    post_seconds = time.monotonic() - started
    if response.status_code != 201:
        raise SystemExit(f"POST answered {response.status_code}: {response.content[:500]!r}")
    answer = response.json()
    posted_at = time.time()
    deadline = time.monotonic() + timeout
    progress = []
    while True:
        connection.close()
        batch = Batch.objects.get(pk=answer["id"])
        progress.append(batch.prepared)
        if batch.status != Batch.Status.PREPARING:
            break
        if time.monotonic() > deadline:
            raise SystemExit("The batch was not prepared in time.")
        time.sleep(0.05)
    done_at = time.time()
    if batch.status != Batch.Status.PENDING:
        raise SystemExit(f"The batch ended {batch.status}: {batch.error}")
    items = BatchItem.objects.filter(batch=batch).count()
    return {
        "status_in_post": answer["status"],
        "post_seconds": post_seconds,
        "items": items,
        "prepare_seconds": done_at - posted_at,
        "items_per_second": items / (done_at - posted_at),
        "progress": sorted(set(progress)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--database", default=DB_NAME)
    parser.add_argument("--json", help="also write the last round's figures to this JSON file")
    args = parser.parse_args()
    database_url, redis_url = production_urls()
    total = args.cases * args.repeats * 2
    env = worker_env(bench_database(database_url, args.database), redis_url)
    env["PROMPTLIB_BATCH_MAX_ITEMS"] = str(max(total, 200_000))
    django_start(env)
    experiment, dataset, key = seed(cases=args.cases)
    workers = Workers(env)
    try:
        workers.start(processes=1)
        print(f"{args.cases:,} cases × 2 variants × {args.repeats} repeats = {total:,} items")  # noqa: T201
        for round_ in range(1, args.rounds + 1):
            r = create_once(experiment, dataset, key, repeats=args.repeats)
            print(  # noqa: T201
                f"round {round_}: POST {r['post_seconds'] * 1000:.0f} ms (answered '{r['status_in_post']}'); "
                f"{r['items']:,} items written {r['prepare_seconds']:.2f} s after it: "
                f"{r['items_per_second']:,.0f} items/s (target ≥ 50,000/s); "
                f"progress seen while preparing: {', '.join(f'{n:,}' for n in r['progress'])}; "
                f"load {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
            )
            if args.json:
                Path(args.json).write_text(json.dumps(r))
    finally:
        workers.stop()


if __name__ == "__main__":
    main()
