import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, **env_overrides):
    # A production shell: none of the test-session variables (browser tests set DJANGO_ALLOW_ASYNC_UNSAFE).
    dropped = ("PYTEST_VERSION", "DEBUG", "SECRET_KEY", "PROMPTLIB_SECRETS_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_check_deploy():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY=secrets.token_urlsafe(50),
        PROMPTLIB_SECRETS_KEY=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        ALLOWED_HOSTS="prompts.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_it_refuses_to_start_without_secret_key_outside_debug():
    result = _manage("check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_debug_runs_without_secret_key():
    result = _manage("check", DEBUG="true")
    assert result.returncode == 0, result.stderr


def test_an_invalid_boolean_is_refused_loudly():
    result = _manage("check", DEBUG="maybe")
    assert result.returncode != 0
