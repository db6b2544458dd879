"""The sweeper's timer: batches_sweep every PROMPTLIB_BATCH_SWEEP_SECONDS on a thread of the beat process.

Why not a beat-scheduled task: a sweep message waits in the queue behind the chunks it is meant to
rescue, and with every worker process busy running chunks it waited 85–102 s after a worker was
killed although leases last 60 s. A thread of the beat process never waits for a worker. Several beat
processes may run (e.g. `celery worker -B` twice): each sweep takes a short lock in the cache (Redis
SET NX when REDIS_URL is set), so one of them sweeps per period; a sweep run twice is harmless anyway.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, connection

from promptlib.batches.services import batches_sweep

log = logging.getLogger(__name__)
LOCK_KEY = "promptlib:batches-sweep"


def sweep_if_due() -> dict[str, int] | None:
    """Sweep unless another process swept within this period; returns the sweep's counts, or None."""
    period = float(settings.PROMPTLIB_BATCH_SWEEP_SECONDS)
    if not cache.add(LOCK_KEY, 1, timeout=max(1, int(period * 0.8))):
        return None
    return batches_sweep()


def sweeper_loop(*, stop: threading.Event) -> None:
    """Sweep every period until `stop` is set; an error is logged and the next period tries again."""
    period = float(settings.PROMPTLIB_BATCH_SWEEP_SECONDS)
    while not stop.wait(period):
        close_old_connections()
        try:
            counts = sweep_if_due()
            if counts and any(counts.values()):
                log.info("Batch sweep: %s", counts)
        except Exception:
            log.exception("Batch sweep failed; trying again in %s s.", period)
            connection.close()


def sweeper_start() -> threading.Event:
    """Start the timer thread (a daemon: it ends with the process); set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(target=sweeper_loop, kwargs={"stop": stop}, name="batches-sweeper", daemon=True).start()
    return stop
