"""The sweeper's timer in the beat process: it sweeps without any worker, once per period across processes."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from promptlib.batches.models import BatchItem
from promptlib.batches.runner import items_claim
from promptlib.batches.services import batch_start
from promptlib.batches.sweeper import LOCK_KEY, sweep_if_due, sweeper_start
from tests.batches_support import make_batch
from tests.e2e_support import wait_for


@pytest.fixture(autouse=True)
def _no_lock():
    cache.delete(LOCK_KEY)
    yield
    cache.delete(LOCK_KEY)


@pytest.mark.django_db
def test_one_sweep_per_period_whatever_the_number_of_beat_processes(triage_experiment, tickets, settings):
    settings.PROMPTLIB_BATCH_SWEEP_SECONDS = 30
    batch_start(batch=make_batch(triage_experiment, tickets))
    assert sweep_if_due() is not None
    assert sweep_if_due() is None  # another process (here: the same) swept within the period


@pytest.mark.django_db(transaction=True)
def test_the_timer_releases_a_dead_workers_items_with_no_worker_running(triage_experiment, tickets, settings):
    settings.PROMPTLIB_BATCH_SWEEP_SECONDS = 0.3
    batch = batch_start(batch=make_batch(triage_experiment, tickets))
    ids = list(batch.items.order_by("id").values_list("id", flat=True)[:3])
    items_claim(item_ids=ids, token="a" * 32, lease_seconds=60)
    BatchItem.objects.filter(id__in=ids).update(lease_until=timezone.now() - timedelta(seconds=1))
    stop = sweeper_start()
    try:
        wait_for(
            lambda: set(BatchItem.objects.filter(id__in=ids).values_list("status", "attempts")) == {("pending", 1)},
            timeout=10,
            what="the timer to release the expired leases",
        )
    finally:
        stop.set()
