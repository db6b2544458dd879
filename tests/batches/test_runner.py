"""How many threads a chunk runs (its worker's share of the provider's cap), and failing fast."""

from types import SimpleNamespace

import pytest

from promptlib.batches import runner as batch_runner
from promptlib.batches.models import Batch, BatchItem
from promptlib.batches.runner import threads_for, worker_concurrency_set
from promptlib.batches.services import batch_rerun_failed, batch_run_inline, batch_start
from promptlib.providers.limits import limiter_for
from promptlib.tasks import _share_provider_caps
from tests.batches_support import make_batch, standin_answer, standin_provider, tickets_dataset
from tests.standins.server import StandinServer


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


# Fail fast: a batch whose first calls all fail alike stops with the reason.


@pytest.fixture
def big_dataset(acme):
    return tickets_dataset(acme, count=200, name="big")  # 400 calls: the first 10 decide


def test_fail_fast_decides_on_10_calls_or_5_percent_but_at_least_3():
    assert [batch_runner.fail_fast_calls(n) for n in (2, 20, 100, 200, 10_000)] == [2, 3, 5, 10, 10]


def _first_calls_failed(batch, count: int, *, kind: str = "auth", status: int | None = 401) -> None:
    ids = batch.items.order_by("id").values_list("id", flat=True)[:count]
    BatchItem.objects.filter(id__in=list(ids)).update(
        status="failed", error_kind=kind, error=f"{kind} error", attempt_log=[{"n": 1, "ok": False, "status": status}]
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "status", "reason"),
    [
        ("auth", 401, "The provider refused the API key (401)."),
        ("auth", None, "No API key was sent: auth error"),
        ("not_found", 404, "The provider does not know this model or address (404)."),
        ("connection", None, "The provider could not be reached, even after retries."),
        ("bad_request", 400, "The provider refused the request (400): bad_request error"),
    ],
)
def test_first_calls_failing_alike_give_the_reason_in_one_sentence(triage_experiment, big_dataset, kind, status,
                                                                     reason):  # fmt: skip
    batch = batch_start(batch=make_batch(triage_experiment, big_dataset))
    _first_calls_failed(batch, 10, kind=kind, status=status)
    assert batch_runner.fail_fast_reason(batch=batch) == reason


@pytest.mark.django_db
def test_fewer_failed_calls_than_the_first_ten_decide_nothing(triage_experiment, big_dataset):
    batch = batch_start(batch=make_batch(triage_experiment, big_dataset))
    _first_calls_failed(batch, 9)
    assert batch_runner.fail_fast_reason(batch=batch) == ""


@pytest.mark.django_db
def test_one_answered_call_means_no_fail_fast(triage_experiment, big_dataset):
    batch = batch_start(batch=make_batch(triage_experiment, big_dataset))
    _first_calls_failed(batch, 10)
    BatchItem.objects.filter(pk=batch.items.order_by("-id").first().pk).update(status="done")
    assert batch_runner.fail_fast_reason(batch=batch) == ""


@pytest.mark.django_db
def test_temporary_or_mixed_failures_mean_no_fail_fast(triage_experiment, big_dataset):
    batch = batch_start(batch=make_batch(triage_experiment, big_dataset))
    _first_calls_failed(batch, 10, kind="server", status=500)
    assert batch_runner.fail_fast_reason(batch=batch) == ""
    _first_calls_failed(batch, 5, kind="auth", status=401)
    assert batch_runner.fail_fast_reason(batch=batch) == ""


@pytest.mark.django_db
def test_a_variant_whose_calls_have_not_failed_keeps_the_batch_going(triage_experiment, big_dataset):
    batch = batch_start(batch=make_batch(triage_experiment, big_dataset))
    control = triage_experiment.variants.get(key="control")
    ids = batch.items.filter(variant=control).order_by("id").values_list("id", flat=True)[:10]
    BatchItem.objects.filter(id__in=list(ids)).update(
        status="failed", error_kind="auth", attempt_log=[{"n": 1, "ok": False, "status": 401}]
    )
    assert batch_runner.fail_fast_reason(batch=batch) == ""


@pytest.fixture
def standin():
    with StandinServer(latency=0.05, answer=standin_answer, record_bodies=False) as server:
        yield server


@pytest.mark.django_db
def test_a_wrong_key_stops_the_batch_early_and_it_resumes_once_fixed(acme, triage_experiment, standin):
    provider = standin_provider(acme, standin, max_concurrency=4)
    limiter_for(provider).reset()
    standin.fail_randomly(1.0, status=401)
    batch = batch_start(batch=make_batch(triage_experiment, tickets_dataset(acme, count=100, name="many"),
                                         provider=provider, model="standin"))  # fmt: skip
    batch = batch_run_inline(batch=batch)
    assert batch.status == Batch.Status.FAILED
    assert batch.error == "The provider refused the API key (401)."
    assert standin.stats()["requests"] < batch.total / 2  # stopped early, not after trying every item
    assert not batch.items.filter(status__in=["pending", "running"]).exists()
    standin.fail_randomly(0.0)
    assert batch_rerun_failed(batch=batch) == batch.total  # the failed calls and those the stop cancelled
    batch = batch_run_inline(batch=batch)
    assert batch.status == Batch.Status.FINISHED and batch.items.filter(status="done").count() == batch.total
