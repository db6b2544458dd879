import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, **env_overrides) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL",)}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_the_embedded_broker_creates_its_folders(tmp_path):
    result = _run("import config", PROMPTLIB_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "celery-queue").is_dir()
    assert (tmp_path / "celery-control").is_dir()


def test_redis_is_the_broker_when_redis_url_is_set(tmp_path):
    result = _run(
        "from config import celery_app; print(celery_app.conf.broker_url)",
        PROMPTLIB_VAR_DIR=str(tmp_path),
        REDIS_URL="redis://127.0.0.1:6379/3",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "redis://127.0.0.1:6379/3"
    assert not (tmp_path / "celery-queue").exists()


def test_tasks_use_json_and_late_acknowledgement():
    result = _run(
        "from config import celery_app as a; c = a.conf; "
        "print(c.task_serializer, c.accept_content, c.task_acks_late, c.task_time_limit is not None, c.beat_scheduler)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "json",
        "['json']",
        "True",
        "True",
        "django_celery_beat.schedulers:DatabaseScheduler",
    ]
