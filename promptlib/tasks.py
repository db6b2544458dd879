"""Celery tasks: thin interfaces that take ids and call services.

Tasks are acknowledged late (settings): a worker killed mid-task leaves its message to be
redelivered, and the services make a redelivered or duplicated message harmless.
"""

from __future__ import annotations

import logging
from importlib import import_module

from celery import shared_task
from celery.signals import beat_init, worker_init, worker_process_init

from promptlib.batches.runner import worker_concurrency_set, writer_thread_keep
from promptlib.batches.schedules import scheduled_batch_start
from promptlib.batches.services import batch_chunk_execute, batch_prepare, batches_sweep
from promptlib.batches.sweeper import sweeper_start
from promptlib.experiments.exposures import exposures_flush
from promptlib.knowledge.indexing import knowledge_embed

logger = logging.getLogger(__name__)


@beat_init.connect
def _start_sweeper(**kwargs) -> None:
    """The batch sweeper runs on a timer in the beat process, not through the queue (promptlib/batches/sweeper.py)."""
    sweeper_start()


@worker_init.connect
def _preload_providers(**kwargs) -> None:
    """Import and warm up what a chunk uses once in the parent, so that forked pool processes start at once.

    A pool process's first chunk took ~0.4 s more than its next ones: imports of the Redis client
    (the limiter's) and of the SDKs' lazy modules, the TLS settings. (`import jsonschema` alone can take
    seconds: its optional rfc3987-syntax compiles grammars.)
    """
    from promptlib.providers.registry import PROVIDER_KINDS, providers_warm_up
    from promptlib.scorers.registry import SCORER_KINDS

    for dotted in [*PROVIDER_KINDS.values(), *(kind.path for kind in SCORER_KINDS.values())]:
        import_module(dotted.rsplit(".", 1)[0])
    import_module("redis")  # the limiter's backend imports it on first use
    try:
        providers_warm_up()
    except Exception:  # a warm-up only saves time: the worker runs without it
        logger.warning("Warming up the provider SDKs failed", exc_info=True)


@worker_init.connect
def _share_provider_caps(sender=None, **kwargs) -> None:
    """Tell the batch runner how many chunks this worker runs at once (they share each provider's cap)."""
    if isinstance(getattr(sender, "concurrency", None), int):  # not yet resolved when it is "auto"
        worker_concurrency_set(sender.concurrency)


@worker_process_init.connect
def _keep_a_writer_thread(**kwargs) -> None:
    """Each pool process stores its chunks' results on one thread that keeps its database connection."""
    writer_thread_keep()


@shared_task(name="promptlib.tasks.batch_chunk")
def batch_chunk(batch_id: int, item_ids: list[int]) -> None:
    batch_chunk_execute(batch_id=batch_id, item_ids=item_ids)


@shared_task(name="promptlib.tasks.batch_prepare")
def batch_prepare_task(batch_id: int) -> None:
    batch_prepare(batch_id=batch_id)


@shared_task(name="promptlib.tasks.batches_sweep")
def batches_sweep_task() -> dict[str, int]:
    """A sweep on demand (e.g. `celery call`); the regular ones run in the beat process."""
    return batches_sweep()


@shared_task(name="promptlib.tasks.scheduled_batch_run")
def scheduled_batch_run(schedule_id: int) -> int | None:
    batch = scheduled_batch_start(schedule_id=schedule_id)
    return batch.pk if batch else None


@shared_task(name="promptlib.tasks.exposures_flush")
def exposures_flush_task() -> int:
    return exposures_flush()


@shared_task(name="promptlib.tasks.knowledge_embed")
def knowledge_embed_task(knowledge_base_id: int) -> int:
    """Make the missing vectors of a knowledge base (progress on the knowledge base's row)."""
    return knowledge_embed(knowledge_base_id=knowledge_base_id)
