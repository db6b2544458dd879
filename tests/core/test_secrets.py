"""Provider keys at rest (Fernet, rotation) and error text scrubbed of credentials."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from promptlib.core.secrets import (
    REDACTED,
    SecretUnreadableError,
    secret_decrypt,
    secret_encrypt,
    secret_hint,
    secret_rotate,
    text_scrub,
)

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-proj-Zq81mXkP0aLw3rT5vB7nC9dE"


def _fernet_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def test_a_stored_key_is_a_token_that_does_not_contain_it():
    token = secret_encrypt(KEY)
    assert KEY not in token and KEY[-8:] not in token
    assert secret_decrypt(token) == KEY


def test_a_development_key_is_derived_when_none_is_configured(settings):
    settings.PROMPTLIB_SECRETS_KEYS = []
    assert secret_decrypt(secret_encrypt(KEY)) == KEY


def test_an_old_key_still_decrypts_after_a_new_one_is_put_first(settings):
    old, new = _fernet_key(), _fernet_key()
    settings.PROMPTLIB_SECRETS_KEYS = [old]
    token = secret_encrypt(KEY)
    settings.PROMPTLIB_SECRETS_KEYS = [new, old]
    assert secret_decrypt(token) == KEY
    rotated = secret_rotate(token)
    settings.PROMPTLIB_SECRETS_KEYS = [new]
    assert secret_decrypt(rotated) == KEY


def test_a_token_under_an_unknown_key_is_unreadable_not_a_crash(settings):
    settings.PROMPTLIB_SECRETS_KEYS = [_fernet_key()]
    token = secret_encrypt(KEY)
    settings.PROMPTLIB_SECRETS_KEYS = [_fernet_key()]
    with pytest.raises(SecretUnreadableError, match="PROMPTLIB_SECRETS_KEY") as caught:
        secret_decrypt(token)
    assert caught.value.field == "api_key"


def test_the_hint_shows_only_the_last_four_characters():
    assert secret_hint(KEY) == "…C9dE"
    assert secret_hint("short-key") == ""


def test_scrubbing_removes_the_requests_own_key():
    scrubbed = text_scrub(f"Invalid key {KEY[3:]}, you sent {KEY}", secrets=[KEY, KEY[3:]])
    assert KEY[3:] not in scrubbed and REDACTED in scrubbed


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl"),
        ("Incorrect API key provided: sk-ant-api03-AbCdEf123456", "sk-ant-api03-AbCdEf123456"),
        ("could not connect to postgres://promptlib:hunter2@db:5432/app", "hunter2"),
        ("redis://:s3cret-pw@cache:6379/0 refused", "s3cret-pw"),
        ('{"api_key": "k-778899", "ok": false}', "k-778899"),
        ("password=opensesame&user=x", "opensesame"),
        ("token 0123456789abcdef0123456789abcdef99 leaked", "0123456789abcdef0123456789abcdef99"),
        (
            "session eyJhbGciOiJIUzI1NiJ9eyJzdWIiOiIxMjM0NTY3ODkwIn0 leaked",
            "eyJhbGciOiJIUzI1NiJ9eyJzdWIiOiIxMjM0NTY3ODkwIn0",
        ),
        ("our key pl_abcd1234_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"),
    ],
)
def test_scrubbing_removes_anything_that_looks_like_a_credential(text, secret):
    scrubbed = text_scrub(text)
    assert secret not in scrubbed
    assert REDACTED in scrubbed


def test_scrubbing_keeps_an_ordinary_error_readable():
    text = "Error code: 404 - The model `gpt-5-nano` does not exist or you do not have access to it."
    assert text_scrub(text) == text


def test_scrubbed_text_is_truncated():
    scrubbed = text_scrub("error " * 1000, limit=500)
    assert len(scrubbed) == 500 and scrubbed.endswith("…")


def _manage(*args, **env_overrides):
    dropped = ("PYTEST_VERSION", "DEBUG", "SECRET_KEY", "PROMPTLIB_SECRETS_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_a_production_start_without_a_secrets_key_refuses_with_a_clear_message():
    result = _manage("check", DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="prompts.example.com")
    assert result.returncode != 0
    assert "PROMPTLIB_SECRETS_KEY must be set when DEBUG is off" in result.stderr
    assert "Fernet.generate_key()" in result.stderr


def test_a_production_start_with_a_secrets_key_passes_check():
    result = _manage(
        "check",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        PROMPTLIB_SECRETS_KEY=f"{_fernet_key()},{_fernet_key()}",
        ALLOWED_HOSTS="prompts.example.com",
    )
    assert result.returncode == 0, result.stderr


def test_a_malformed_secrets_key_refuses_to_start():
    result = _manage("check", DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50), PROMPTLIB_SECRETS_KEY="hunter2")
    assert result.returncode != 0
    assert "must be a Fernet key" in result.stderr and "hunter2" not in result.stderr
