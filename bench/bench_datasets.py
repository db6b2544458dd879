"""Dataset import benchmark: a typed CSV (a list column, a number, an expected field) parsed and stored.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_datasets.py [--rows 50000]

Creates a fresh database (promptlib_bench_datasets on DATABASE_URL's server), migrates it, and makes
a template declaring a string, a list and an integer variable. Prints, for --rows rows (the import's
limit is 50,000):
  parse   cases_parse alone: every cell typed and every row checked against the declaration;
  import  the first import (version 1): parse + store;
  again   a re-import of the same file (version 2): the kept copy of version 1 (its cases moved), then
          version 2 stored.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.support import bench_database  # noqa: E402 - after the path is set

DB_NAME = "promptlib_bench_datasets"


def csv_text(rows: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["ticket", "products", "quantity", "expected.category"])
    for i in range(rows):
        products = f"item {i}; item {i + 1}" if i % 2 else f'["item {i}", "item {i + 1}"]'
        writer.writerow([f"Ticket number {i}: my order did not arrive", products, i % 7, "shipping"])
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    url = bench_database(os.environ["DATABASE_URL"], DB_NAME)
    os.environ.update(DATABASE_URL=url, DEBUG="true", DJANGO_SETTINGS_MODULE="config.settings")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=BASE_DIR, check=True, env=os.environ)  # noqa: S603

    import django

    django.setup()
    from promptlib.batches.datasets import cases_import, cases_parse, dataset_create, dataset_variables
    from promptlib.core.models import Project
    from promptlib.prompts.content import VersionContent
    from promptlib.prompts.services import template_create, version_create

    project = Project.objects.create(slug="bench", name="Bench")
    template = template_create(project=project, slug="orders", title="Orders")
    variables = [{"name": "ticket", "type": "string", "required": True}, {"name": "products", "type": "list"},
                 {"name": "quantity", "type": "integer"}]  # fmt: skip
    version_create(template=template, content=VersionContent(task="{{ ticket }}", variables=variables))
    dataset = dataset_create(project=project, name="orders", template=template)
    text = csv_text(args.rows)
    print(f"{args.rows:,} rows, {len(text) / 1e6:.1f} MB of CSV")

    start = time.perf_counter()
    cases_parse(content=text, fmt="csv", variables=dataset_variables(dataset=dataset))
    parse = time.perf_counter() - start
    print(f"parse   {parse:6.2f} s   {args.rows / parse:9,.0f} rows/s")
    for name in ("import", "again"):
        start = time.perf_counter()
        cases_import(dataset=dataset, content=text, fmt="csv", replace=True)
        took = time.perf_counter() - start
        print(f"{name:7} {took:6.2f} s   {args.rows / took:9,.0f} rows/s   (now version {dataset.version})")


if __name__ == "__main__":
    main()
