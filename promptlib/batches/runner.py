"""Running a chunk of batch items on one worker: claim, call on a thread pool, write back in bulk.

Exactly once, without locks held across a provider call:
- an item is claimed with a conditional update (PENDING, or RUNNING with an expired lease →
  RUNNING with this run's token); only the rows that changed are called;
- results are written with a bulk update filtered on this run's token, so a run whose lease was
  taken over can never overwrite the new owner's row, and the unique (batch, variant, case, repeat)
  key means there is never a second row;
- while calls are in flight this thread renews the leases; a worker killed with SIGKILL stops
  renewing, and after PROMPTLIB_BATCH_LEASE_SECONDS the sweeper hands its items to another worker.
Worker threads only call providers and score (promptlib/batches/calls.py); queries run on
this thread and on one writer thread (SQL in promptlib/batches/claims.py), so a chunk holds
two database connections whatever its concurrency. Claims and writes are grouped: with answers that
come at once, a call costs a fraction of a query.
"""

from __future__ import annotations

import math
import os
import random
import time
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from queue import Empty, SimpleQueue

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from promptlib.batches.calls import (
    Endpoint,
    ItemWork,
    Outcome,
    Plan,
    PriceFn,
    item_call,
    price_fn_for,
    scorer_specs_for,
)
from promptlib.batches.claims import RESULT_FIELDS, items_claim, outcomes_write, pending_ids
from promptlib.batches.models import Batch, BatchItem, ScorerConfig
from promptlib.core.errors import DomainError
from promptlib.experiments.models import Variant
from promptlib.prompts.rendering import PromptError
from promptlib.prompts.retrieval import retrieval_run
from promptlib.providers.models import ProviderConfig
from promptlib.scorers import ScorerError

__all__ = ["RESULT_FIELDS", "BatchSetupError", "ChunkReport", "batch_chunk_run", "items_claim", "outcomes_write"]

# Chunk tasks this worker runs at once (its pool's size), set by promptlib.tasks when a Celery worker
# starts, before it forks: 1 elsewhere (inline runs, tests).
_worker_concurrency = 1
WRITE_EVERY_SECONDS = 0.5
WRITE_MAX_ROWS = 250
STATUS_CHECK_SECONDS = 1.0
# Fail fast: when the first calls of a batch (10, or 5% of it if fewer, but at least 3) all failed for
# the same reason, one that every further call would meet too, the batch stops with that reason.
FAIL_FAST_CALLS, FAIL_FAST_SHARE, FAIL_FAST_MIN = 10, 0.05, 3
FAIL_FAST_REASONS = {
    "auth": "The provider refused the API key{status}.",
    "not_found": "The provider does not know this model or address{status}.",
    "bad_request": "The provider refused the request{status}: {error}",
    "refused": "The provider's address is not allowed by this server's outbound policy.",
    "connection": "The provider could not be reached, even after retries.",
}


class BatchSetupError(DomainError):
    """The batch cannot run as configured; `field` names what is wrong."""

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass
class ChunkReport:
    claimed: int = 0
    done: int = 0
    failed: int = 0
    rescheduled: list[tuple[int, float]] | None = None


def worker_concurrency_set(tasks_at_once: int) -> None:
    global _worker_concurrency
    _worker_concurrency = max(1, int(tasks_at_once))


def threads_for(cap: int, tasks_at_once: int | None = None) -> int:
    """A chunk's threads: its share of the provider's cap among this worker's tasks, within PROMPTLIB_BATCH_MAX_THREADS.

    The pool's processes share the cap; threads beyond a process's share would mostly wait for slots
    the others hold, and every failed try costs a round trip to the limiter. `tasks_at_once` defaults
    to this worker's concurrency.
    """
    share = -(-max(1, cap) // (tasks_at_once or _worker_concurrency))
    return max(1, min(share, settings.PROMPTLIB_BATCH_MAX_THREADS))


def provider_for_version(*, batch_provider: ProviderConfig | None, project_id: int, version) -> ProviderConfig:
    if batch_provider is not None:
        return batch_provider
    if not version.provider:
        raise BatchSetupError(f"{version} names no provider; choose a provider for the batch.", field="provider")
    config = ProviderConfig.objects.filter(project_id=project_id, name=version.provider).first()
    if config is None:
        raise BatchSetupError(
            f"{version} uses provider '{version.provider}', which this project lacks.", field="provider"
        )
    return config


def plans_for(*, batch: Batch) -> tuple[dict[int, Plan], list]:
    """Per-variant call plans and the experiment's scorers, built once per chunk."""
    variants = Variant.objects.filter(experiment_id=batch.experiment_id).select_related("version")
    endpoints: dict[tuple[int, str], Endpoint] = {}

    def endpoint(config: ProviderConfig, model: str) -> Endpoint:
        key = (config.pk, model)
        if key not in endpoints:
            endpoints[key] = Endpoint.build(config=config, model=model)
        return endpoints[key]

    plans = {}
    for variant in variants:
        version = variant.version
        config = provider_for_version(batch_provider=batch.provider, project_id=batch.project_id, version=version)
        model = batch.model or version.model or (config.models[0] if config.models else "")
        if not model:
            raise BatchSetupError(f"No model for variant '{variant.key}': set the batch's model.", field="model")
        plans[variant.pk] = Plan(version, endpoint(config, model), version.temperature, version.max_tokens)

    default = next(iter(plans.values())).endpoint if plans else None

    def judge_endpoint(config: dict) -> Endpoint | None:
        if not config.get("provider"):
            return None
        judge_config = ProviderConfig.objects.filter(project_id=batch.project_id, name=config["provider"]).first()
        if judge_config is None:
            raise BatchSetupError(f"The AI grader's provider '{config['provider']}' does not exist.", field="scorers")
        return endpoint(judge_config, config.get("model") or (default.model if default else ""))

    rows = ScorerConfig.objects.filter(experiment_id=batch.experiment_id).order_by("order", "id")
    try:
        return plans, scorer_specs_for(rows=rows, judge_endpoint=judge_endpoint)
    except ScorerError as exc:
        raise BatchSetupError(f"Scorer option {exc.field}: {exc.message}", field="scorers") from exc


def _claimable(now) -> Q:
    pending = Q(status=BatchItem.Status.PENDING) & (Q(not_before__isnull=True) | Q(not_before__lte=now))
    return pending | Q(status=BatchItem.Status.RUNNING, lease_until__lt=now)


def batch_chunk_run(*, batch_id: int, item_ids: list[int]) -> ChunkReport:
    """Run the chunk's items; then, while threads are idle, take on further pending items of the batch.

    Taking on work ("stealing") keeps every slot of the provider busy across chunk boundaries: the
    messages of items taken this way find nothing left to claim, and return at once. It stops after
    PROMPTLIB_BATCH_STEAL_SECONDS so that a task stays well inside Celery's time limit.
    """
    report = ChunkReport(rescheduled=[])
    batch = Batch.objects.select_related("provider").filter(id=batch_id).first()
    if batch is None or batch.status != Batch.Status.RUNNING:
        return report
    if not BatchItem.objects.filter(batch_id=batch_id).filter(_claimable(timezone.now())).exists():
        return report  # a chunk whose items were taken on by another task: nothing to set up
    try:
        plans, scorers = plans_for(batch=batch)
    except BatchSetupError as exc:
        batch_fail(batch=batch, error=exc.message)
        return report
    cap = max((p.endpoint.config.max_concurrency for p in plans.values()), default=1)
    run = _ChunkRun(batch=batch, plans=plans, scorers=scorers, threads=threads_for(cap), report=report)
    run.run(item_ids)
    if report.failed and not report.done:
        batch_fail_fast(batch=batch)
    return report


class _ChunkRun:
    """The claim loop of one chunk: keeps up to twice `threads` claimed items submitted to the pool.

    Claims are made in groups, once the items queued ahead of the threads run low (a few are kept, so
    that no thread waits for the claim query), and results are written in groups: a call costs a
    fraction of a query.
    """

    def __init__(self, *, batch: Batch, plans: dict, scorers: list, threads: int, report: ChunkReport) -> None:
        self.batch, self.plans, self.scorers, self.threads, self.report = batch, plans, scorers, threads, report
        self.token = uuid.uuid4().hex
        self.lease = float(settings.PROMPTLIB_BATCH_LEASE_SECONDS)
        self.capacity = 2 * threads
        # Below capacity, or with one thread (capacity 2) the loop would claim nothing, forever.
        self.refill_at = min(self.capacity - 1, threads + max(1, threads // 4))
        self.waiting: deque[int] = deque()
        self.in_flight: set[Future] = set()
        self.done: SimpleQueue[Future] = SimpleQueue()
        self.cases: dict = {}  # case id → its data, read once per chunk
        self.stealing = True
        self.steal_until = time.monotonic() + settings.PROMPTLIB_BATCH_STEAL_SECONDS
        # Where to look for more work: a random point in the batch, so that workers do not all reach for the same rows.
        self.id_range = BatchItem.objects.filter(batch_id=batch.pk).aggregate(lo=Min("id"), hi=Max("id"))

    def run(self, item_ids: list[int]) -> None:
        self.waiting.extend(item_ids)
        finished: list[Outcome] = []
        writer = _Writer(token=self.token, report=self.report)
        last_write = last_renew = last_check = time.monotonic()
        running = True
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix=f"batch{self.batch.pk}") as pool:
            try:
                while True:
                    if running and len(self.in_flight) <= self.refill_at and (self.waiting or self.stealing):
                        self._claim_more(pool)
                        if len(self.in_flight) <= self.refill_at and (self.waiting or self.stealing):
                            continue  # some items were taken by others: claim again before waiting
                    now = time.monotonic()
                    if finished and (not self.in_flight or len(finished) >= WRITE_MAX_ROWS
                                     or now - last_write >= WRITE_EVERY_SECONDS):  # fmt: skip
                        writer.write(finished)
                        finished, last_write = [], now
                    if not self.in_flight:
                        break
                    finished.extend(self._collect(timeout=0.25))
                    if now - last_renew >= self.lease / 3:
                        BatchItem.objects.filter(claim_token=self.token, status=BatchItem.Status.RUNNING).update(
                            lease_until=timezone.now() + timedelta(seconds=self.lease)
                        )
                        last_renew = now
                    if running and now - last_check >= STATUS_CHECK_SECONDS:
                        if self.report.failed and not self.report.done:
                            batch_fail_fast(batch=self.batch)
                        running = Batch.objects.filter(id=self.batch.pk, status=Batch.Status.RUNNING).exists()
                        last_check = now
            finally:
                if finished:
                    writer.write(finished)
                writer.close()

    def _claim_more(self, pool: ThreadPoolExecutor) -> None:
        free = self.capacity - len(self.in_flight)
        stolen = False
        if not self.waiting:
            if time.monotonic() < self.steal_until:
                pivot = random.randint(self.id_range["lo"] or 0, self.id_range["hi"] or 0)
                self.waiting.extend(pending_ids(batch_id=self.batch.pk, after_id=pivot, limit=free * 2))
            stolen = self.stealing = bool(self.waiting)
        if not self.waiting:
            return
        group = [self.waiting.popleft() for _ in range(min(free, len(self.waiting)))]
        claimed = items_claim(item_ids=group, token=self.token, lease_seconds=self.lease, cases=self.cases)
        retrieval_prepare(project_id=self.batch.project_id, plans=self.plans, works=claimed)
        for work in claimed:
            future = pool.submit(
                item_call, work=work, plan=self.plans[work.variant_id], scorers=self.scorers,
                use_cache=self.batch.use_cache,
            )  # fmt: skip
            future.add_done_callback(self.done.put)
            self.in_flight.add(future)
        self.report.claimed += len(claimed)
        if stolen and not claimed and not self.waiting:
            self.stealing = False  # other workers are taking the rest

    def _collect(self, *, timeout: float) -> list[Outcome]:
        """The outcomes of the calls that finished: waits up to `timeout` for the first one."""
        try:
            futures = [self.done.get(timeout=timeout)]
        except Empty:
            return []
        while True:
            try:
                futures.append(self.done.get_nowait())
            except Empty:
                break
        self.in_flight.difference_update(futures)
        return [future.result() for future in futures]


_writers: dict[int, ThreadPoolExecutor] = {}  # pid → the worker process's writer thread


def writer_thread_keep() -> None:
    """In a worker process: one writer thread for all its chunks, keeping its database connection.

    A writer thread per chunk opened a new PostgreSQL connection per chunk (~2% of a worker's time).
    One thread keeps the writes in order, as before: an item written back for a retry and written
    again later must not be overtaken. Elsewhere (tests, inline runs) each chunk has its own thread
    whose connection closes with it, so that no connection outlives the run.
    """
    _writers[os.getpid()] = ThreadPoolExecutor(1, thread_name_prefix="batch-writer")


def retrieval_prepare(*, project_id: int, plans: dict[int, Plan], works: list[ItemWork]) -> None:
    """Search the knowledge base of each variant with retrieval, once per case, on this (the querying) thread;
    price the query's embedding when the search made one (charged to the case's first answer)."""
    prices: dict[tuple[int, str], PriceFn | None] = {}  # (provider id, model) → its price, read once here
    for work in works:
        plan = plans[work.variant_id]
        if not plan.retrieves or work.case_id in plan.retrieved:
            continue
        try:
            found = plan.retrieved[work.case_id] = retrieval_run(
                project_id=project_id, content=plan.version, variables=work.case_input
            )
        except PromptError as exc:
            plan.retrieved[work.case_id] = exc
            continue
        if found is None or not found.embedding_tokens or not found.embedding_provider_id:
            continue
        where = (found.embedding_provider_id, found.embedding_model)
        if where not in prices:
            config = ProviderConfig.objects.filter(pk=where[0]).first()
            prices[where] = price_fn_for(config=config, model=where[1]) if config is not None else None
        if prices[where] is not None:
            plan.retrieval_costs[work.case_id] = prices[where](found.embedding_tokens, 0)


class _Writer:
    """Stores outcomes on a thread of its own (with its own connection) so the claim loop never waits.

    Inside a transaction (tests, inline runs in a request) the rows are only visible on this
    connection, so there it writes in place.
    """

    def __init__(self, *, token: str, report: ChunkReport) -> None:
        self.token, self.report = token, report
        self.kept = _writers.get(os.getpid())
        if connection.in_atomic_block:
            self.pool = None
        elif self.kept is not None:
            self.pool = self.kept
            # Its connection is reused while it is usable and younger than CONN_MAX_AGE, as a request's.
            self.pool.submit(close_old_connections)
        else:
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="batch-writer")
        self.futures: list[Future] = []

    def write(self, outcomes: list[Outcome]) -> None:
        self.report.done += sum(1 for o in outcomes if o.status == "done")
        self.report.failed += sum(1 for o in outcomes if o.status == "failed")
        if self.pool is None:
            self.report.rescheduled += outcomes_write(outcomes=outcomes, token=self.token)
        else:
            self.futures.append(self.pool.submit(outcomes_write, outcomes=list(outcomes), token=self.token))

    def close(self) -> None:
        if self.pool is None:
            return
        if self.pool is not self.kept:
            self.pool.submit(connection.close)  # the writer thread's own connection
            self.pool.shutdown(wait=True)
        for future in self.futures:
            self.report.rescheduled += future.result()


def batch_fail(*, batch: Batch, error: str) -> None:
    """The batch cannot run at all (e.g. its provider was deleted): say why and stop."""
    with transaction.atomic():
        Batch.objects.filter(pk=batch.pk, status__in=[Batch.Status.PENDING, Batch.Status.RUNNING]).update(
            status=Batch.Status.FAILED, error=error, finished_at=timezone.now()
        )
        BatchItem.objects.filter(batch=batch, status=BatchItem.Status.PENDING).update(status=BatchItem.Status.CANCELLED)


def fail_fast_calls(total: int) -> int:
    """How many first calls decide: 10, or 5% of the batch if fewer, but at least 3 (or the whole batch)."""
    return min(total, max(FAIL_FAST_MIN, min(FAIL_FAST_CALLS, math.ceil(total * FAIL_FAST_SHARE))))


def fail_fast_reason(*, batch: Batch) -> str:
    """The sentence that stops the batch when its first calls all failed alike; "" while they did not.

    Alike: the same kind of error, one that the next calls would meet too, and the same HTTP status,
    over every variant the batch runs (a variant on another provider may work).
    """
    items = BatchItem.objects.filter(batch_id=batch.pk)
    if items.filter(status=BatchItem.Status.DONE).exists():
        return ""
    sample = list(items.filter(status=BatchItem.Status.FAILED).order_by("id").values_list(
        "variant_id", "error_kind", "error", "attempt_log")[: fail_fast_calls(batch.total)])  # fmt: skip
    if len(sample) < fail_fast_calls(batch.total):
        return ""
    reasons = {(kind, (log[-1].get("status") if log else None)) for _, kind, _, log in sample}
    if len(reasons) != 1:
        return ""
    (kind, status), error = reasons.pop(), sample[0][2]
    if kind not in FAIL_FAST_REASONS:
        return ""
    if {variant for variant, *_ in sample} != set(items.order_by().values_list("variant_id", flat=True).distinct()):
        return ""
    if kind == "auth" and not status:
        # No HTTP status: the call never left, the key is missing here (not refused there); say what is missing.
        return f"No API key was sent: {error.removeprefix('auth: ')}"
    return FAIL_FAST_REASONS[kind].format(status=f" ({status})" if status else "", error=error)


def batch_fail_fast(*, batch: Batch) -> bool:
    """Stop a running batch whose first calls all failed alike, with the reason in one sentence."""
    reason = fail_fast_reason(batch=batch)
    if reason:
        batch_fail(batch=batch, error=reason)
    return bool(reason)
