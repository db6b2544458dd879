"""What the playground adds to a streamed answer: first words and whole answer, through the admin view vs the bare SDK.

    .venv/bin/python bench/bench_playground.py [--runs 20] [--words 40] [--gap 0.01]

Against the local stand-in (tests/standins), which streams `--words` words `--gap` seconds apart. The
same request through (a) the openai SDK alone, (b) the playground's view (Django's test client: the
render, the provider from the registry, the limiter, the streaming thread, cost, server-sent events).
Prints medians in milliseconds. A throwaway SQLite database in a temporary folder; nothing else is touched.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--words", type=int, default=40)
    parser.add_argument("--gap", type=float, default=0.01, help="seconds between streamed words")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-playground-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{folder}/db.sqlite3",
        PROMPTLIB_VAR_DIR=folder,
        PROMPTLIB_PLAYGROUND_RATE="",
        REDIS_URL="",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from tests.standins import StandinServer

    words = " ".join(f"word{i}" for i in range(args.words))
    with StandinServer(answer=lambda body: words) as server:
        server.stream_slowly(args.gap)
        bare = _bare(server, args.runs)
        view = _view(server, args.runs)
    print(f"stand-in: {args.words} words, {args.gap * 1000:g} ms apart; {args.runs} runs each; medians in ms")
    print(f"{'path':<12}{'first words':>14}{'whole answer':>14}")
    for name, (first, whole) in (("bare SDK", bare), ("playground", view)):
        print(f"{name:<12}{statistics.median(first):>14.1f}{statistics.median(whole):>14.1f}")
    print(
        f"playground adds {statistics.median(view[0]) - statistics.median(bare[0]):.1f} ms to the first words and "
        f"{statistics.median(view[1]) - statistics.median(bare[1]):.1f} ms to the whole answer"
    )


def _bare(server, runs: int) -> tuple[list[float], list[float]]:
    import openai

    client = openai.OpenAI(base_url=server.openai_base_url, api_key="not-needed", max_retries=0)
    first, whole = [], []
    for _ in range(runs):
        started = time.perf_counter()
        seen = None
        stream = client.chat.completions.create(
            model="standin", messages=[{"role": "user", "content": "Greet Bea."}], stream=True
        )
        for chunk in stream:
            if seen is None and chunk.choices and chunk.choices[0].delta.content:
                seen = time.perf_counter()
        first.append((seen - started) * 1000)
        whole.append((time.perf_counter() - started) * 1000)
    return first, whole


def _view(server, runs: int) -> tuple[list[float], list[float]]:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from promptlib.core.models import Membership, Project, Role
    from promptlib.prompts.content import VersionContent
    from promptlib.prompts.services import template_create, version_create

    project = Project.objects.create(slug="bench", name="Bench")
    user = get_user_model().objects.create_user(username="bench", password="x", is_staff=True)  # noqa: S106
    Membership.objects.create(user=user, project=project, role=Role.EDITOR)
    template = template_create(project=project, slug="greet", title="Greet")
    content = VersionContent(task="Greet {{ name }}.", variables=[{"name": "name", "type": "string", "required": True}])
    version_create(template=template, content=content)
    config = server.provider_config("openai", project=project, name="standin", timeout_seconds=30, max_concurrency=4)
    config.save()
    client = Client()
    client.force_login(user)
    url = reverse("admin:promptlib_template_playground_run", args=[template.pk])
    body = {"version": "1", "provider": str(config.pk), "model": "standin", "preview-name": "Bea"}
    first, whole = [], []
    for _ in range(runs):
        started = time.perf_counter()
        seen = None
        response = client.post(url, body)
        for chunk in response.streaming_content:
            if seen is None and b'"delta"' in chunk:
                seen = time.perf_counter()
        first.append((seen - started) * 1000)
        whole.append((time.perf_counter() - started) * 1000)
    return first, whole


if __name__ == "__main__":
    main()
