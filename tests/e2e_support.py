"""Real Celery worker processes for end-to-end tests, pointed at the test database and a fresh queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)
CELERY = str(Path(sys.executable).with_name("celery"))


def test_database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def new_queue_name() -> str:
    return f"e2e-{uuid.uuid4().hex[:12]}"


class Workers:
    """Starts `celery -A config worker` processes (prefork) and kills them, by their own process group."""

    def __init__(self, *, queue: str, env: dict[str, str] | None = None) -> None:
        self.queue = queue
        self.extra_env = env or {}
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=test_database_url(),
            CELERY_TASK_DEFAULT_QUEUE=self.queue,
            PROMPTLIB_BATCH_LEASE_SECONDS="3",
            PROMPTLIB_BATCH_REQUEUE_SECONDS="4",
            PROMPTLIB_BATCH_SWEEP_SECONDS="1",
            PROMPTLIB_BATCH_CHUNK_SIZE=str(settings.PROMPTLIB_BATCH_CHUNK_SIZE),
            CELERY_VISIBILITY_TIMEOUT="10",
            CONN_MAX_AGE="0",
        )
        env.update(self.extra_env)
        return env

    def start(self, *, concurrency: int = 2, beat: bool = False) -> subprocess.Popen:
        name = f"w{len(self.procs)}-{self.queue}@%h"
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"{self.queue}-w{len(self.procs)}.log"
        args = [CELERY, "-A", "config", "worker", "--pool=prefork", f"--concurrency={concurrency}",
                "-Q", self.queue, "-n", name, "--loglevel=INFO", "--without-gossip", "--without-mingle",
                "--without-heartbeat"]  # fmt: skip
        if beat:
            args += ["-B", "--schedule", str(log.with_suffix(".beat"))]
        proc = subprocess.Popen(  # noqa: S603 — our own celery binary and fixed arguments
            args, cwd=BASE_DIR, env=self.env(), stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL the worker and its pool children at once: no shutdown, no acknowledgements."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        # The test is over: nothing to finish cleanly, and each test has its own queue.
        for proc in self.procs:
            if proc.poll() is None:
                self.kill(proc)

    def output(self) -> str:
        return "\n".join(f"--- {log}\n{log.read_text()[-4000:]}" for log in self.logs if log.exists())


def wait_for(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connection.close()  # see the workers' commits, not a snapshot
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout}s waiting for {what}.")
