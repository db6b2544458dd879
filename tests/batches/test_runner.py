"""How many threads a chunk runs: its worker's share of the provider's cap."""

from types import SimpleNamespace

import pytest

from promptlib.batches import runner as batch_runner
from promptlib.batches.runner import threads_for, worker_concurrency_set
from promptlib.tasks import _share_provider_caps


@pytest.fixture(autouse=True)
def _restore_concurrency():
    yield
    worker_concurrency_set(1)


def test_outside_a_worker_a_chunk_runs_the_whole_cap():
    assert threads_for(20) == 20


def test_the_pool_processes_of_a_worker_share_the_cap():
    worker_concurrency_set(2)
    assert threads_for(20) == 10


def test_a_share_is_rounded_up_and_never_zero():
    worker_concurrency_set(4)
    assert (threads_for(6), threads_for(1)) == (2, 1)


def test_the_thread_limit_setting_caps_the_share(settings):
    settings.PROMPTLIB_BATCH_MAX_THREADS = 4
    assert threads_for(20) == 4


def test_a_starting_worker_reports_its_concurrency():
    _share_provider_caps(sender=SimpleNamespace(concurrency=5))
    assert batch_runner._worker_concurrency == 5


def test_an_unresolved_auto_concurrency_leaves_the_share_alone():
    _share_provider_caps(sender=SimpleNamespace(concurrency="auto"))
    assert batch_runner._worker_concurrency == 1


def test_a_share_can_be_asked_for_another_number_of_tasks():
    assert threads_for(20, tasks_at_once=4) == 5
