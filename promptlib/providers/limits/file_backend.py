"""The file backend (no Redis; one machine): a slot is an exclusive flock on one of the lock files.

The kernel drops a flock when its holder dies. RPM, pause, AIMD state and the slots still held for
timed-out calls live in one JSON file, read and written under its own flock.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import re
import time
import uuid
from pathlib import Path
from typing import Any

from promptlib.providers.limits.policy import POLL_SECONDS, Attempt, Lease, Policy


class FileBackend:
    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def _dir(self, key: str) -> Path:
        path = self.directory / re.sub(r"[^A-Za-z0-9_.-]", "_", key)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _locked_state(self, key: str):
        return _StateFile(self._dir(key) / "state.json")

    def wait_for_release(self, key: str, timeout: float) -> None:
        time.sleep(min(timeout, random.uniform(*POLL_SECONDS)))  # lock files have no wake-up: poll

    def try_acquire(self, key: str, policy: Policy) -> Attempt:
        directory = self._dir(key)
        with self._locked_state(key) as state:
            data, now = state.data, time.time()
            if data.get("paused_until", 0) > now:
                return Attempt(None, data["paused_until"] - now)
            if policy.rpm:
                recent = {t: at for t, at in data.get("rpm", {}).items() if at > now - policy.rpm_window}
                if len(recent) >= policy.rpm:
                    return Attempt(None, min(recent.values()) + policy.rpm_window - now)
            holds = {slot: until for slot, until in data.get("holds", {}).items() if until > now}
            slot, handle = _lock_first_free_slot(directory, policy.limit_at(data, now), holds)
            if handle is None:
                return Attempt(None)
            lease = Lease(uuid.uuid4().hex, handle=handle, slot=slot)
            if policy.rpm:
                # As late as the request may reach the provider, until its call ends (see release).
                data["rpm"] = {**recent, lease.token: now + policy.arrival_margin}
                state.changed = True
            if holds != data.get("holds", {}):
                data["holds"] = holds
                state.changed = True
        return Attempt(lease)

    def release(self, key: str, policy: Policy, lease: Lease, outcome: str, *, hold: float, retry_after: float) -> int:
        with self._locked_state(key) as state:
            data, now = state.data, time.time()
            if hold > 0:  # recorded before the flock goes, under the state's lock that acquirers take
                data.setdefault("holds", {})[str(lease.slot)] = now + hold
                state.changed = True
            os.close(lease.handle)  # closing the file drops the flock
            latest = data.get("rpm", {}).get(lease.token)
            if latest is not None:  # the call ended: its request reached the provider before now
                data["rpm"][lease.token] = min(now, latest)
                state.changed = True
            limit = policy.limit_at(data, now)
            if outcome == "rate_limited":
                if retry_after > 0 and now + retry_after > data.get("paused_until", 0):
                    data["paused_until"] = now + retry_after
                if now >= data.get("decrease_after", 0):
                    limit = max(1, limit // 2)
                    after = now + max(retry_after, policy.decrease_window)
                    data.update(floor=limit, decreased_at=now, decrease_after=after)
                state.changed = True
        return limit

    def effective_concurrency(self, key: str, policy: Policy) -> int:
        with self._locked_state(key) as state:
            return policy.limit_at(state.data, time.time())

    def in_use(self, key: str) -> int:
        """Slots taken now (flocked, or held for a timed-out call)."""
        directory = self._dir(key)
        with self._locked_state(key) as state:
            now = time.time()
            held = {int(slot) for slot, until in state.data.get("holds", {}).items() if until > now}
        taken = set(held)
        for path in directory.glob("slot-*.lock"):
            slot = int(path.stem.split("-")[1])
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                taken.add(slot)
            finally:
                os.close(fd)
        return len(taken)

    def reset(self, key: str) -> None:
        with self._locked_state(key) as state:
            state.data = {}
            state.changed = True


def _lock_first_free_slot(directory: Path, limit: int, holds: dict[str, float]) -> tuple[int, int | None]:
    for slot in range(limit):
        if str(slot) in holds:
            continue  # a timed-out call's, which the provider may still be working on
        fd = os.open(directory / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # flock (not lockf): held per open file, so threads of one process exclude each other too.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return slot, fd
    return -1, None


class _StateFile:
    """A JSON file read and written under an exclusive flock, as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {}
        self.changed = False

    def __enter__(self) -> _StateFile:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        raw = os.read(self.fd, 1 << 20)
        try:
            self.data = json.loads(raw) if raw else {}
        except ValueError:
            self.data = {}  # a torn write from a killed process: start over rather than fail forever
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.changed:
                os.lseek(self.fd, 0, os.SEEK_SET)
                os.truncate(self.fd, 0)
                os.write(self.fd, json.dumps(self.data).encode())
        finally:
            os.close(self.fd)
