"""Exposures: how many renders and how many distinct subjects each variant was shown to, per day.

The render path only records (`exposure_record`); a periodic task (`exposures_flush`) writes the
counts to ExposureCount rows, which the report reads for the sample-ratio-mismatch check.

With Redis: the render only adds the subject to a per-process buffer (a dict under a lock, no I/O);
a background thread sends the buffer every FLUSH_SECONDS in one pipelined round trip — per
(experiment, variant, day): PFADD its subjects to a HyperLogLog for the day and one for the whole
experiment, INCRBY the day's renders, list the day in the set the flush walks and renew the keys'
expiry (KEY_TTL_SECONDS). Nothing on the request path waits on Redis or the database. The buffer is
also sent at exit and by `exposures_flush` in the same process; a process killed outright loses at
most its last FLUSH_SECONDS of renders. If Redis is unreachable the counts are kept (up to
BUFFER_MAX subjects) and sent once it answers.
Without Redis: renders and subjects are kept in this process and written in bulk by the render
that finds the oldest one BUFFER_SECONDS old (or BUFFER_MAX of them), subjects as ExposedSubject
rows, so counts stay exact. That render pays for a few inserts; a deployment that cares about
render latency runs Redis.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
from datetime import date, datetime

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from promptlib.experiments.models import ExposedSubject, ExposureCount, Variant

KEY_TTL_SECONDS = 40 * 24 * 3600  # renewed by each day's first render: a lifetime HLL lives while renders go on
BUFFER_SECONDS = 5.0
BUFFER_MAX = 5_000
FLUSH_SECONDS = 0.1  # how late Redis may learn of a render
KEPT_MAX = 200_000  # subjects kept while Redis does not answer; beyond, the oldest counts are dropped
_INDEX = "exposures:v1:index"
_ALL = "all"


def _redis():
    client_of = getattr(getattr(cache, "_cache", None), "get_client", None)
    return client_of(write=True) if client_of is not None else None


def _key(experiment_id: int, variant: str, day: str, what: str) -> str:
    return cache.make_key(f"exposures:v1:{experiment_id}:{variant}:{day}:{what}")


def exposure_record(*, experiment_id: int, variant: str, subject: str) -> None:
    """Count one render of `variant` for `subject`: one Redis round trip, or an in-process buffer."""
    day = timezone.now().date().isoformat()
    if _redis() is None:
        _buffer.add(experiment_id, variant, day, subject)
        return
    _sender.add(experiment_id, variant, day, subject)


class _Sender:
    """Per-process buffer of renders for Redis, sent by a daemon thread every FLUSH_SECONDS."""

    def __init__(self):
        self.lock = threading.Lock()
        self.renders: dict[tuple[int, str, str], int] = {}
        self.subjects: dict[tuple[int, str, str], set[str]] = {}
        self.pid = None
        self.thread = None
        self.kept = 0

    def add(self, experiment_id: int, variant: str, day: str, subject: str) -> None:
        key = (experiment_id, variant, day)
        with self.lock:
            if self.pid != os.getpid():  # first render, or a forked worker: the parent's thread is not here
                self.renders, self.subjects, self.kept, self.pid = {}, {}, 0, os.getpid()
                self.thread = threading.Thread(target=self._run, name="exposures-sender", daemon=True)
                self.thread.start()
            self.renders[key] = self.renders.get(key, 0) + 1
            self.subjects.setdefault(key, set()).add(subject)

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            try:
                self.send()
            except Exception:  # noqa: BLE001 — the thread must outlive a Redis outage; counts are kept
                logging.getLogger(__name__).warning("exposures: Redis did not take the counts", exc_info=True)

    def send(self) -> None:
        """Send what is buffered in one pipelined round trip; on failure put it back for the next try."""
        with self.lock:
            if self.pid != os.getpid() or not self.renders:
                return
            renders, subjects = self.renders, self.subjects
            self.renders, self.subjects = {}, {}
        client = _redis()
        if client is None:
            return
        pipe = client.pipeline(transaction=False)
        index = cache.make_key(_INDEX)
        for (e, v, d), count in renders.items():
            keys = (_key(e, v, d, "subjects"), _key(e, v, _ALL, "subjects"), _key(e, v, d, "renders"))
            pipe.pfadd(keys[0], *subjects[(e, v, d)])
            pipe.pfadd(keys[1], *subjects[(e, v, d)])
            pipe.incrby(keys[2], count)
            pipe.sadd(index, f"{e}:{v}:{d}")
            for key in keys:
                pipe.expire(key, KEY_TTL_SECONDS)
        try:
            pipe.execute()
        except Exception:
            self._put_back(renders, subjects)
            raise

    def _put_back(self, renders, subjects) -> None:
        with self.lock:
            for key, count in renders.items():
                self.renders[key] = self.renders.get(key, 0) + count
                self.subjects.setdefault(key, set()).update(subjects[key])
            self.kept = sum(len(names) for names in self.subjects.values())
            if self.kept > KEPT_MAX:  # Redis has been away long: keep memory bounded, lose counts
                self.renders, self.subjects, self.kept = {}, {}, 0


_sender = _Sender()


@atexit.register
def _send_at_exit() -> None:
    with contextlib.suppress(Exception):  # Redis gone at shutdown: nothing left to do
        _sender.send()


class _Buffer:
    """Per-process counts for the no-Redis fallback; thread-safe, written out in bulk."""

    def __init__(self):
        self.lock = threading.Lock()
        self.renders: dict[tuple[int, str, str], int] = {}
        self.subjects: dict[tuple[int, str, str], set[str]] = {}
        self.size = 0
        self.since = time.monotonic()

    def add(self, experiment_id: int, variant: str, day: str, subject: str) -> None:
        key = (experiment_id, variant, day)
        with self.lock:
            if not self.size:
                self.since = time.monotonic()  # the age of the oldest unwritten render
            self.renders[key] = self.renders.get(key, 0) + 1
            self.subjects.setdefault(key, set()).add(subject)
            self.size += 1
            due = self.size >= BUFFER_MAX or time.monotonic() - self.since >= BUFFER_SECONDS
        if due:
            self.write()

    def take(self):
        with self.lock:
            renders, subjects = self.renders, self.subjects
            self.renders, self.subjects, self.size, self.since = {}, {}, 0, time.monotonic()
        return renders, subjects

    def write(self) -> None:
        renders, subjects = self.take()
        if renders:
            _buffer_write(renders, subjects)


_buffer = _Buffer()


def _variant_ids(pairs) -> dict[tuple[int, str], int]:
    experiment_ids = {e for e, _ in pairs}
    rows = Variant.objects.filter(experiment_id__in=experiment_ids).values_list("experiment_id", "key", "pk")
    return {(e, k): pk for e, k, pk in rows}


def _buffer_write(renders, subjects) -> None:
    ids = _variant_ids({(e, v) for e, v, _ in renders})
    with transaction.atomic():
        rows = [
            ExposedSubject(variant_id=ids[(e, v)], day=date.fromisoformat(d), subject=s)
            for (e, v, d), names in subjects.items()
            if (e, v) in ids
            for s in names
        ]
        ExposedSubject.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
        for (e, v, d), count in renders.items():
            if (e, v) not in ids:
                continue
            variant_id, day = ids[(e, v)], date.fromisoformat(d)
            row, _ = ExposureCount.objects.get_or_create(experiment_id=e, variant_id=variant_id, day=day)
            ExposureCount.objects.filter(pk=row.pk).update(renders=F("renders") + count)
        for variant_id in {ids[(e, v)] for e, v, _ in renders if (e, v) in ids}:
            _exact_subjects_write(variant_id)


def _exact_subjects_write(variant_id: int) -> None:
    """Recount the variant's distinct subjects, per day and overall, from its ExposedSubject rows."""
    variant = Variant.objects.only("experiment_id").get(pk=variant_id)
    seen = ExposedSubject.objects.filter(variant_id=variant_id)
    for row in seen.values("day").annotate(n=Count("subject")).order_by():
        ExposureCount.objects.filter(variant_id=variant_id, day=row["day"]).update(subjects=row["n"], exact=True)
    total = seen.values("subject").distinct().count()
    ExposureCount.objects.update_or_create(
        variant_id=variant_id,
        day=None,
        defaults={"experiment_id": variant.experiment_id, "subjects": total, "exact": True},
    )


def exposures_flush(*, today: date | None = None) -> int:
    """Write the counts so far to ExposureCount rows (absolute values: a repeated flush is harmless).

    With Redis, days before yesterday are dropped from the index once written (their keys expire).
    Returns the number of (variant, day) counts written.
    """
    client = _redis()
    if client is None:
        _buffer.write()
        return 0
    _sender.send()  # this process's own renders not yet sent (a worker that also renders, tests)
    index = cache.make_key(_INDEX)
    members = sorted(m.decode() if isinstance(m, bytes) else m for m in client.smembers(index))
    if not members:
        return 0
    parsed = [(int(e), v, d) for e, v, d in (m.split(":", 2) for m in members)]
    pipe = client.pipeline(transaction=False)
    for e, v, d in parsed:
        pipe.pfcount(_key(e, v, d, "subjects"))
        pipe.get(_key(e, v, d, "renders"))
    replies = pipe.execute()
    totals = {(e, v) for e, v, _ in parsed}
    pipe = client.pipeline(transaction=False)
    for e, v in sorted(totals):
        pipe.pfcount(_key(e, v, _ALL, "subjects"))
    total_replies = dict(zip(sorted(totals), pipe.execute(), strict=True))
    ids = _variant_ids(totals)
    today = today or timezone.now().date()
    done = []
    with transaction.atomic():
        for n, (e, v, d) in enumerate(parsed):
            if (e, v) not in ids:
                done.append(members[n])  # the variant is gone
                continue
            day = date.fromisoformat(d)
            ExposureCount.objects.update_or_create(
                variant_id=ids[(e, v)],
                day=day,
                defaults={
                    "experiment_id": e,
                    "subjects": int(replies[2 * n]),
                    "renders": int(replies[2 * n + 1] or 0),
                    "exact": False,
                },
            )
            if (today - day).days >= 2:
                done.append(members[n])
        for (e, v), subjects in total_replies.items():
            if (e, v) in ids:
                ExposureCount.objects.update_or_create(
                    variant_id=ids[(e, v)],
                    day=None,
                    defaults={"experiment_id": e, "subjects": int(subjects), "exact": False},
                )
    if done:
        client.srem(index, *done)
    return len(parsed)


def exposure_totals(*, experiment_id: int) -> dict[int, tuple[int, int, bool]]:
    """{variant id: (distinct subjects, renders, exact)} over the whole experiment, as last flushed."""
    rows = ExposureCount.objects.filter(experiment_id=experiment_id)
    totals: dict[int, list] = {}
    for variant_id, day, renders, subjects, exact in rows.values_list(
        "variant_id", "day", "renders", "subjects", "exact"
    ):
        entry = totals.setdefault(variant_id, [0, 0, True])
        if day is None:
            entry[0] = subjects
            entry[2] = exact
        else:
            entry[1] += renders
    return {k: (v[0], v[1], v[2]) for k, v in totals.items()}


def exposure_days(*, experiment_id: int) -> list[tuple[datetime, int, int, int]]:
    """[(day, variant id, subjects, renders)] in day order."""
    rows = ExposureCount.objects.filter(experiment_id=experiment_id, day__isnull=False).order_by("day")
    return list(rows.values_list("day", "variant_id", "subjects", "renders"))
