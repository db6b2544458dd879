"""Run one callable from many threads at once: how the race tests ask for the same thing concurrently."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def at_once(count: int, call: Callable[[], object]) -> list[object]:
    """`call`'s results (or the exception each raised) from `count` threads released together."""
    results: list[object] = []
    start = threading.Barrier(count)

    def run() -> None:
        try:
            start.wait()
            results.append(call())
        except BaseException as exc:  # noqa: BLE001 - the caller's assertions report it
            results.append(exc)
        finally:
            connection.close()  # each thread has its own database connection

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
