"""Instructions per warm render through the API, counted by callgrind: exact where req/s are noisy.

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.out \\
        .venv/bin/python bench/callgrind_render.py --renders 200

Sets up the demo project in a fresh SQLite file (no services), creates a read key, warms the render
path with 30 requests through Django's test client, then turns callgrind's instrumentation on for
`--renders` requests only (callgrind_control -i on/off), so setup is not counted. Compare two
checkouts by running this in each and dividing the "I refs" figures valgrind prints at exit.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
URL = "/api/v1/templates/support-ticket-triage/render"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--renders", type=int, default=200)
    args = parser.parse_args()
    database = Path(tempfile.mkdtemp()) / "callgrind.sqlite3"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="true",
        ALLOWED_HOSTS="testserver",
        DATABASE_URL=f"sqlite:///{database}",
    )
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    call_command("demo_setup", stdout=io.StringIO())
    out = io.StringIO()
    call_command("create_api_key", project="demo", scopes="read", stdout=out)
    key = next(word for word in out.getvalue().split() if word.startswith("pl_"))
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    body = json.dumps({"variables": {"ticket_body": "I was charged twice for my order"}})
    for _ in range(30):
        response = client.post(URL, body, content_type="application/json")
        assert response.status_code == 200, response.content
    toggle = ["callgrind_control", "-i"]
    subprocess.run([*toggle, "on", str(os.getpid())], check=False, capture_output=True)
    for _ in range(args.renders):
        client.post(URL, body, content_type="application/json")
    subprocess.run([*toggle, "off", str(os.getpid())], check=False, capture_output=True)
    print(f"{args.renders} renders counted")


if __name__ == "__main__":
    main()
