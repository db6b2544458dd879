"""What the benchmarks share: a fresh PostgreSQL database and the environment of a production-like server."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def production_urls() -> tuple[str, str]:
    """DATABASE_URL and REDIS_URL from the environment; exits unless they name PostgreSQL and a Redis."""
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database_url.startswith("postgres") or not redis_url:
        raise SystemExit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: the benchmark measures the production setup.")
    return database_url, redis_url


def django_start(env: dict[str, str]) -> None:
    """Take `env` as this process's environment, migrate its database (in a child process) and set Django up."""
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    import django

    django.setup()


def bench_database(url: str, name: str) -> str:
    """Drop and create database `name` on the server of `url`; return its URL."""
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def bench_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """This process's environment with production settings (DEBUG off) on the given database and Redis.

    Cache keys get a per-run prefix, so that other users of the same Redis database are not disturbed.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CACHE_KEY_PREFIX=f"bench{os.getpid()}",
        DEBUG="false",
        SECRET_KEY="bench-" + uuid.uuid4().hex,
        PROMPTLIB_SECRETS_KEY=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        PROMPTLIB_ALLOW_LOOPBACK="true",  # the provider stand-in listens on 127.0.0.1
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env
