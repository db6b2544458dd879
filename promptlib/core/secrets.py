"""Secrets at rest and in stored text: Fernet encryption of provider keys, and scrubbing of credentials.

    token = secret_encrypt("sk-…")          # store the token, never the key
    secret_decrypt(token)                    # → "sk-…", or SecretUnreadableError
    secret_hint("sk-…abcd")                  # → "…abcd", what a page may show
    text_scrub(error_body, secrets=[key])    # → the text without the key nor anything key-like

The keys come from settings.PROMPTLIB_SECRETS_KEYS (the environment's PROMPTLIB_SECRETS_KEY,
comma-separated Fernet keys: the first encrypts, every one decrypts, so rotation is: put the new key
first, run `secret_rotate` over the stored tokens, drop the old key). Settings refuse to start in
production without one and derive a development key from SECRET_KEY in DEBUG and tests.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from promptlib.core.errors import DomainError

# Keys shorter than this show no characters at all: four of eight would give too much away.
HINT_MIN_LENGTH = 12
REDACTED = "[redacted]"
# Scrubbing looks at this much text at most, so a huge error body costs little.
SCRUB_MAX_INPUT = 20_000

# Anything that looks like a credential, most specific first. Each keeps its context and replaces the value.
_CREDENTIAL_PATTERNS = [
    # user:password@ in a URL (postgres://, redis://, https://…).
    (re.compile(r"([a-z][a-z0-9+.\-]*://)[^\s/@:]*:[^\s/@]*@", re.I), rf"\1{REDACTED}@"),
    (re.compile(r"\b(Bearer|Basic|Token)\s+[^\s\"',;]+", re.I), rf"\1 {REDACTED}"),
    # "api_key": "…", password=…, x-api-key: …, secret …
    (
        re.compile(
            r"((?:api[_\-]?key|x-api-key|token|secret|password|passwd|authorization)\"?'?\s*[:=]\s*\"?'?)"
            r"[^\s\"',;}]+",
            re.I,
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"), REDACTED),
    (re.compile(r"\bpl_[a-z0-9]{8}_[A-Za-z0-9]{8,}"), REDACTED),
    (re.compile(r"\b[0-9a-fA-F]{32,}\b"), REDACTED),
    (re.compile(r"[A-Za-z0-9+/_\-]{32,}={0,2}"), REDACTED),
]


class SecretUnreadableError(DomainError):
    code = "secret_unreadable"


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        raise ImproperlyConfigured("PROMPTLIB_SECRETS_KEY holds a value that is not a Fernet key (32 bytes, base64).")


def _current() -> MultiFernet:
    keys = tuple(settings.PROMPTLIB_SECRETS_KEYS) or (development_key(),)
    return _fernet(keys)


def development_key() -> str:
    """DEBUG and tests only (settings refuse production without PROMPTLIB_SECRETS_KEY): web and workers agree."""
    digest = hashlib.sha256(b"promptlib-secrets:" + settings.SECRET_KEY.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def secret_encrypt(plain: str) -> str:
    return _current().encrypt(plain.encode()).decode()


def secret_decrypt(token: str, *, field: str = "api_key") -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadableError(
            "The stored secret cannot be decrypted with PROMPTLIB_SECRETS_KEY (was the key changed without "
            "keeping the old one?). Enter it again.",
            field=field,
        ) from None


def secret_rotate(token: str) -> str:
    """The token re-encrypted under the first key (after a new key was put first)."""
    return _current().rotate(token.encode()).decode()


def secret_hint(plain: str) -> str:
    """What a page may show of a secret: its last four characters, or nothing for a short one."""
    return "…" + plain[-4:] if len(plain) >= HINT_MIN_LENGTH else ""


def text_scrub(text: str, *, secrets: Iterable[str] = (), limit: int = 500) -> str:
    """`text` without the given secrets nor anything that looks like a credential, at most `limit` characters."""
    text = text[:SCRUB_MAX_INPUT]
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _CREDENTIAL_PATTERNS:
        text = pattern.sub(replacement, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
