"""A Python client for applications: fetch rendered prompts and report outcomes over the REST API.

It needs only the standard library and httpx (no Django), so it can be copied into or imported by
any application::

    from promptlib_client import PromptClient, PromptClientError

    client = PromptClient(
        "https://promptlib.example.com",
        api_key=os.environ["PROMPTLIB_API_KEY"],          # pl_<prefix>_<secret>
        fallbacks={"welcome-email": {"text": "Write a short, friendly welcome email."}},
    )
    prompt = client.get_prompt("welcome-email", variables={"name": "Ann"}, subject=user_id)
    reply = llm.chat(messages=prompt.messages, model=prompt.model["model"], ...)
    client.report_outcome("task_success_rate", True, render_id=prompt.render_id)
    ...
    client.close()   # or `with PromptClient(...) as client:`; sends what is still buffered

Prompts. Rendered prompts are cached in-process by (slug, label, version, variables, subject). For
`ttl` seconds a cached copy is served without asking the server; from `ttl` to `stale_ttl` it is
served at once (flagged `stale`) while one background thread per key fetches a fresh copy
(stale-while-revalidate); after `stale_ttl` the call fetches synchronously. When the server cannot
answer (connection refused, timeout, 5xx, 429) the last good copy is served whatever its age, flagged
`stale`; with nothing cached, the caller's fallback (argument `fallback`, else `fallbacks[slug]`: a
dict with "messages" and/or "text", used as is) is returned flagged `is_fallback`; with neither,
PromptUnavailableError is raised. After such a failure the client does not ask the server again for
`failure_cooldown` seconds (or the server's Retry-After) when it has something to serve, so that an
outage does not add a timeout to every call. Client errors (400 bad variables, 401, 403, 404) raise
PromptClientError with the server's error list: a bug should not hide behind a fallback.

Outcomes. `report_outcome` only appends to a buffer and returns the event_id (a uuid4 unless given).
A background thread sends the buffer in bulk requests of up to `batch_size` events, as soon as that
many are waiting or every `flush_interval` seconds. Network errors, 5xx and 429 are retried with
exponential backoff and the same event_ids, so the server stores each event once however often it is
sent. Events the server refuses (400 per event, or 401/403 for the whole request) are dropped with a
warning. If the server stays down, the buffer keeps the newest `max_buffer` events and counts the
oldest it drops in `stats["events_dropped"]`. `flush(timeout)` waits until everything buffered so far
has been sent; `close()` flushes and stops the thread.

All methods are thread-safe; share one client per process.
"""

from __future__ import annotations

import atexit
import collections
import json
import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import httpx

__all__ = ["Prompt", "PromptClient", "PromptClientError", "PromptUnavailableError"]

logger = logging.getLogger("promptlib_client")

MAX_EVENTS_PER_REQUEST = 1000  # the server's limit for one bulk request
_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


class PromptClientError(Exception):
    """The server refused the request (4xx): fix the call; retrying will not help.

    `errors` is the server's list of {"field", "code", "message"}.
    """

    def __init__(self, status: int, errors: list[dict[str, Any]]):
        self.status = status
        self.errors = errors
        details = "; ".join(f"{e.get('field') or '-'}: {e.get('message', '')}" for e in errors) or "no details"
        super().__init__(f"HTTP {status}: {details}")


class PromptUnavailableError(Exception):
    """The server could not answer and there was neither a cached copy nor a fallback."""


class _TransientError(Exception):
    """Worth retrying later: network failure, timeout, 5xx or 429."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Prompt:
    """A rendered prompt, and where it came from."""

    template: str
    version: int | None
    label: str | None
    messages: list[dict[str, str]]
    text: str
    model: dict[str, Any]
    # None, or {"id", "name", "variant": {"key", "version"}} when an experiment chose the version.
    experiment: dict[str, Any] | None
    render_id: str | None
    from_cache: bool = False
    stale: bool = False
    is_fallback: bool = False
    # None, or {"knowledge_base", "snapshot_id", "query", "passages": [{"id", "title", "source", "score"}]}
    # when the version retrieved from a knowledge base.
    retrieval: dict[str, Any] | None = None

    @property
    def variant(self) -> str | None:
        return self.experiment["variant"]["key"] if self.experiment else None

    @property
    def passages(self) -> list[dict[str, Any]]:
        """The knowledge-base passages in the prompt (id, title, source, score), to cite; [] without any."""
        return list(self.retrieval["passages"]) if self.retrieval else []

    @classmethod
    def from_response(cls, data: Mapping[str, Any]) -> Prompt:
        return cls(
            template=data["template"],
            version=data.get("version"),
            label=data.get("label"),
            messages=list(data.get("messages") or []),
            text=data.get("text") or "",
            model=dict(data.get("model") or {}),
            experiment=data.get("experiment"),
            render_id=data.get("render_id"),
            retrieval=data.get("retrieval"),
        )

    @classmethod
    def from_fallback(cls, slug: str, fallback: Mapping[str, Any]) -> Prompt:
        text = fallback.get("text")
        messages = fallback.get("messages")
        if messages is None:
            messages = [{"role": "user", "content": text or ""}]
        if text is None:
            text = "\n\n".join(m.get("content", "") for m in messages)
        return cls(
            template=slug,
            version=None,
            label=None,
            messages=list(messages),
            text=text,
            model=dict(fallback.get("model") or {}),
            experiment=None,
            render_id=None,
            is_fallback=True,
        )


@dataclass
class _Entry:
    prompt: Prompt
    fetched_at: float


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


def _errors_of(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        errors = None
    if isinstance(errors, list):
        return errors
    return [{"field": "", "code": "http_error", "message": response.text[:500]}]


def _copy(prompt: Prompt, **changes: Any) -> Prompt:
    # A caller appending to its messages must not change what the cache gives the next caller.
    return replace(prompt, messages=[dict(m) for m in prompt.messages], model=dict(prompt.model), **changes)


class PromptClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        ttl: float = 60,
        stale_ttl: float = 3600,
        timeout: float = 2.0,
        fallbacks: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        max_entries: int = 1000,
        failure_cooldown: float = 5.0,
        batch_size: int = 500,
        flush_interval: float = 5.0,
        max_buffer: int = 10_000,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.ttl = ttl
        self.stale_ttl = max(stale_ttl, ttl)
        self.fallbacks = dict(fallbacks or {})
        self.max_entries = max_entries
        self.failure_cooldown = failure_cooldown
        self.batch_size = max(1, min(batch_size, MAX_EVENTS_PER_REQUEST))
        self.flush_interval = flush_interval
        self.max_buffer = max(max_buffer, self.batch_size)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "promptlib-client/1"},
            timeout=timeout,
            transport=transport,
        )
        self._lock = threading.Lock()  # guards the cache, the refresh set, stats and _down_until
        self._cache: collections.OrderedDict[tuple, _Entry] = collections.OrderedDict()
        self._refreshing: set[tuple] = set()
        self._fetch_locks: dict[tuple, threading.Lock] = {}
        self._down_until = 0.0
        self._stats = collections.Counter()
        # Outcomes: a buffer and a sender thread, started by the first report_outcome.
        self._events_cond = threading.Condition()
        self._buffer: collections.deque[tuple[float, dict[str, Any]]] = collections.deque()  # (arrived, event)
        self._inflight = 0
        self._flush_wanted = False
        self._closing = False
        self._sender: threading.Thread | None = None
        self._closed = False
        atexit.register(self._at_exit)

    # --- prompts -------------------------------------------------------------------------------

    def get_prompt(
        self,
        slug: str,
        label: str | None = None,
        version: int | None = None,
        variables: Mapping[str, Any] | None = None,
        subject: str | None = None,
        fallback: Mapping[str, Any] | None = None,
    ) -> Prompt:
        """The rendered prompt: label (default production) or an exact version; see the module doc."""
        body: dict[str, Any] = {"variables": dict(variables or {})}
        if label is not None:
            body["label"] = label
        if version is not None:
            body["version"] = version
        if subject is not None:
            body["subject"] = subject
        key = (slug, label, version, json.dumps(body["variables"], sort_keys=True, default=str), subject)

        entry = self._cached(key)
        now = time.monotonic()
        if entry is not None:
            age = now - entry.fetched_at
            if age < self.ttl:
                return self._serve(entry, stale=False, stat="cache_hits")
            down = now < self._down_until
            if age < self.stale_ttl or down:
                if not down:
                    self._refresh_in_background(key, slug, body)
                return self._serve(entry, stale=True, stat="stale_served")

        # One synchronous fetch per key at a time; the others wait and take its result.
        with self._fetch_lock(key):
            fresh = self._cached(key)
            if fresh is not None and fresh is not entry and time.monotonic() - fresh.fetched_at < self.ttl:
                return self._serve(fresh, stale=False, stat="cache_hits")
            fallback = fallback if fallback is not None else self.fallbacks.get(slug)
            if time.monotonic() < self._down_until and (entry is not None or fallback is not None):
                return self._degraded(slug, entry, fallback, "the server failed moments ago")
            try:
                return self._fetch(key, slug, body)
            except _TransientError as exc:
                logger.warning("promptlib: cannot fetch %r (%s)", slug, exc)
                return self._degraded(slug, entry, fallback, str(exc))

    def _degraded(self, slug: str, entry: _Entry | None, fallback: Mapping[str, Any] | None, reason: str) -> Prompt:
        """What to serve when the server cannot answer: the last good copy, else the fallback."""
        if entry is not None:
            return self._serve(entry, stale=True, stat="stale_served")
        if fallback is not None:
            self._count("fallbacks_served")
            return Prompt.from_fallback(slug, fallback)
        raise PromptUnavailableError(f"Cannot fetch prompt {slug!r} and no fallback was given: {reason}")

    def _cached(self, key: tuple) -> _Entry | None:
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None:
                self._cache.move_to_end(key)
            return entry

    def _serve(self, entry: _Entry, *, stale: bool, stat: str) -> Prompt:
        self._count(stat)
        return _copy(entry.prompt, from_cache=True, stale=stale)

    def _fetch_lock(self, key: tuple) -> threading.Lock:
        with self._lock:
            lock = self._fetch_locks.get(key)
            if lock is None:
                if len(self._fetch_locks) > 2 * self.max_entries:
                    self._fetch_locks = {k: v for k, v in self._fetch_locks.items() if v.locked()}
                lock = self._fetch_locks[key] = threading.Lock()
            return lock

    def _fetch(self, key: tuple, slug: str, body: dict[str, Any]) -> Prompt:
        """Ask the server; cache and return the result. Raises _TransientError or PromptClientError."""
        self._count("fetches")
        response = self._post(f"/templates/{slug}/render", body)
        prompt = Prompt.from_response(response.json())
        with self._lock:
            self._cache[key] = _Entry(prompt=prompt, fetched_at=time.monotonic())
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
            self._down_until = 0.0
        return _copy(prompt)

    def _refresh_in_background(self, key: tuple, slug: str, body: dict[str, Any]) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def refresh() -> None:
            try:
                self._fetch(key, slug, body)
                self._count("refreshes")
            except _TransientError as exc:
                logger.warning("promptlib: background refresh of %r failed (%s)", slug, exc)
            except PromptClientError as exc:
                # Keep serving the last good copy, but say loudly that the server now refuses it.
                logger.error("promptlib: background refresh of %r refused: %s", slug, exc)
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        threading.Thread(target=refresh, name=f"promptlib-refresh-{slug}", daemon=True).start()

    def _post(self, path: str, body: Any) -> httpx.Response:
        try:
            response = self._http.post(path, json=body)
        except httpx.TransportError as exc:  # connection refused, timeouts, broken connections
            self._mark_down(None)
            raise _TransientError(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code in _TRANSIENT_STATUS:
            retry_after = _retry_after(response)
            self._mark_down(retry_after)
            raise _TransientError(f"HTTP {response.status_code}", retry_after=retry_after)
        if response.status_code >= 400:
            raise PromptClientError(response.status_code, _errors_of(response))
        return response

    def _mark_down(self, retry_after: float | None) -> None:
        with self._lock:
            self._down_until = time.monotonic() + max(self.failure_cooldown, retry_after or 0.0)

    # --- outcomes ------------------------------------------------------------------------------

    def report_outcome(
        self,
        metric: str,
        value: bool | int | float,
        render_id: str | None = None,
        experiment: int | None = None,
        variant: str | None = None,
        subject: str | None = None,
        event_id: str | None = None,
    ) -> str:
        """Buffer one outcome; returns its event_id. Name a render_id, or experiment + variant + subject."""
        if not metric or not isinstance(metric, str):
            raise ValueError("metric must be a non-empty string")
        if isinstance(value, bool):
            pass
        elif not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError("value must be true, false or a finite number")
        event: dict[str, Any] = {"metric": metric, "value": value, "event_id": event_id or str(uuid.uuid4())}
        if render_id is not None:
            event["render_id"] = render_id
        elif experiment is not None and variant is not None and subject is not None:
            event.update(experiment=experiment, variant=variant, subject=subject)
        else:
            raise ValueError("give a render_id, or experiment, variant and subject")
        with self._events_cond:
            if self._closed:
                raise RuntimeError("this PromptClient is closed")
            self._buffer.append((time.monotonic(), event))
            self._drop_overflow()
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_loop, name="promptlib-outcomes", daemon=True)
                self._sender.start()
            if len(self._buffer) == 1 or len(self._buffer) >= self.batch_size:
                self._events_cond.notify_all()  # start the flush timer, or send a full batch now
        return event["event_id"]

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Send what is buffered now; True once everything was sent (or refused), False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._events_cond:
            self._flush_wanted = True
            self._events_cond.notify_all()
            while self._buffer or self._inflight:
                if self._sender is None or not self._sender.is_alive():
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._events_cond.wait(remaining)
            return True

    def close(self, timeout: float | None = 10.0) -> bool:
        """Flush (for at most `timeout` seconds), stop the sender and release connections."""
        if self._closed:
            return True
        sent = self.flush(timeout)
        with self._events_cond:
            self._closed = self._closing = True
            self._events_cond.notify_all()
            left = len(self._buffer)
        if self._sender is not None:
            self._sender.join(timeout=5)
        if left:
            logger.warning("promptlib: %d outcome events were not sent before close", left)
        self._http.close()
        atexit.unregister(self._at_exit)
        return sent

    def _at_exit(self) -> None:
        self.close(timeout=5.0)

    def __enter__(self) -> PromptClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def stats(self) -> dict[str, int]:
        """Counters: cache_hits, stale_served, fallbacks_served, fetches, refreshes, events_sent,
        events_duplicate, events_rejected, events_dropped, send_failures; plus events_buffered."""
        with self._lock:
            counts = dict(self._stats)
        with self._events_cond:
            counts["events_buffered"] = len(self._buffer) + self._inflight
        return counts

    def _count(self, name: str, n: int = 1) -> int:
        with self._lock:
            self._stats[name] += n
            return self._stats[name]

    def _drop_overflow(self) -> None:
        # Called with _events_cond held: the oldest events go first.
        dropped = 0
        # Events in flight are not counted: if their send fails they return as the oldest and go first.
        while len(self._buffer) > self.max_buffer:
            self._buffer.popleft()
            dropped += 1
        if dropped:
            total = self._count("events_dropped", dropped)
            if total == dropped or total // 1000 != (total - dropped) // 1000:
                logger.warning("promptlib: outcome buffer full, %d oldest events dropped so far", total)

    def _send_loop(self) -> None:
        failures = 0
        retry_at = 0.0  # backoff: no send before this (0 when the last send worked)
        while True:
            with self._events_cond:
                while True:
                    if self._closing and not (self._buffer and self._flush_wanted):
                        return
                    now = time.monotonic()
                    due = self._buffer[0][0] + self.flush_interval if self._buffer else None
                    if self._buffer and (
                        self._flush_wanted
                        or (now >= retry_at and (failures or now >= due or len(self._buffer) >= self.batch_size))
                    ):
                        break
                    wake = (retry_at if failures else due) if self._buffer else None
                    self._events_cond.wait(None if wake is None else max(0.01, wake - now))
                batch = [self._buffer.popleft() for _ in range(min(self.batch_size, len(self._buffer)))]
                self._inflight = len(batch)
            try:
                self._send([event for _, event in batch])
                failures, retry_at = 0, 0.0
            except _TransientError as exc:
                failures += 1
                self._count("send_failures")
                delay = min(self.backoff_max, self.backoff_base * 2 ** (failures - 1)) * random.uniform(0.8, 1.2)
                delay = max(delay, exc.retry_after or 0.0)
                retry_at = time.monotonic() + delay
                logger.warning("promptlib: sending %d outcomes failed (%s); retrying in %.1fs", len(batch), exc, delay)
            with self._events_cond:
                if failures:
                    self._buffer.extendleft(reversed(batch))  # same events, same ids, same order
                    self._flush_wanted = False  # a waiting flush() keeps waiting; the backoff decides
                elif not self._buffer:
                    self._flush_wanted = False
                self._inflight = 0
                self._drop_overflow()
                self._events_cond.notify_all()

    def _send(self, batch: list[dict[str, Any]]) -> None:
        try:
            report = self._post("/outcomes", {"events": batch}).json()
        except PromptClientError as exc:
            self._count("events_rejected", len(batch))
            logger.error("promptlib: server refused %d outcome events: %s", len(batch), exc)
            return
        self._count("events_sent", report.get("stored", 0))
        self._count("events_duplicate", report.get("duplicates", 0))
        errors = report.get("errors") or []
        if errors:
            self._count("events_rejected", len({e.get("index") for e in errors}))
            logger.error("promptlib: server refused outcome events: %s", errors[:5])
