"""Running a chunk of batch items on one worker: claim, call on a thread pool, write back in bulk.

Exactly once, without locks held across a provider call:
- an item is claimed with a conditional update (PENDING, or RUNNING with an expired lease →
  RUNNING with this run's token); only the rows that changed are called;
- results are written with a bulk update filtered on this run's token, so a run whose lease was
  taken over can never overwrite the new owner's row, and the unique (batch, variant, case, repeat)
  key means there is never a second row;
- while calls are in flight this thread renews the leases; a worker killed with SIGKILL stops
  renewing, and after PROMPTLIB_BATCH_LEASE_SECONDS the sweeper hands its items to another worker.
Worker threads only call providers and score (promptlib/services/batch_calls.py); every query runs
here, so a chunk holds one database connection whatever its concurrency.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Max, Min, Q
from django.utils import timezone

from promptlib.models import Batch, BatchItem, ProviderConfig, ScorerConfig, Variant
from promptlib.scorers import ScorerError
from promptlib.services.batch_calls import Endpoint, ItemWork, Outcome, Plan, item_call, scorer_specs_for

MAX_THREADS = 64
WRITE_EVERY_SECONDS = 0.5
STATUS_CHECK_SECONDS = 1.0

RESULT_FIELDS = [
    "status", "claim_token", "finished_at", "attempts", "attempt_log", "not_before", "enqueued_at", "model",
    "output", "error", "error_kind", "success", "schema_passed", "latency_ms", "cost_usd", "judge_cost_usd",
    "input_tokens", "output_tokens", "cached", "scores",
]  # fmt: skip


class BatchSetupError(Exception):
    """The batch cannot run as configured; `field` names what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class ChunkReport:
    claimed: int = 0
    done: int = 0
    failed: int = 0
    rescheduled: list[tuple[int, float]] | None = None


def provider_for_version(*, batch_provider: ProviderConfig | None, project_id: int, version) -> ProviderConfig:
    if batch_provider is not None:
        return batch_provider
    if not version.provider:
        raise BatchSetupError("provider", f"{version} names no provider; choose a provider for the batch.")
    config = ProviderConfig.objects.filter(project_id=project_id, name=version.provider).first()
    if config is None:
        raise BatchSetupError("provider", f"{version} uses provider '{version.provider}', which this project lacks.")
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
            raise BatchSetupError("model", f"No model for variant '{variant.key}': set the batch's model.")
        plans[variant.pk] = Plan(version, endpoint(config, model), version.temperature, version.max_tokens)

    default = next(iter(plans.values())).endpoint if plans else None

    def judge_endpoint(config: dict) -> Endpoint | None:
        if not config.get("provider"):
            return None
        judge_config = ProviderConfig.objects.filter(project_id=batch.project_id, name=config["provider"]).first()
        if judge_config is None:
            raise BatchSetupError("scorers", f"The AI grader's provider '{config['provider']}' does not exist.")
        return endpoint(judge_config, config.get("model") or (default.model if default else ""))

    rows = ScorerConfig.objects.filter(experiment_id=batch.experiment_id).order_by("order", "id")
    try:
        return plans, scorer_specs_for(rows=rows, judge_endpoint=judge_endpoint)
    except ScorerError as exc:
        raise BatchSetupError("scorers", f"Scorer option {exc.field}: {exc.message}") from exc


def _claimable(now) -> Q:
    pending = Q(status=BatchItem.Status.PENDING) & (Q(not_before__isnull=True) | Q(not_before__lte=now))
    return pending | Q(status=BatchItem.Status.RUNNING, lease_until__lt=now)


def items_claim(*, item_ids: list[int], token: str, lease_seconds: float) -> list[ItemWork]:
    """Claim what is still claimable of item_ids; returns the claimed items, read after the claim."""
    now = timezone.now()
    BatchItem.objects.filter(id__in=item_ids).filter(_claimable(now)).update(
        status=BatchItem.Status.RUNNING,
        claim_token=token,
        claimed_at=now,
        lease_until=now + timedelta(seconds=lease_seconds),
    )
    rows = (
        BatchItem.objects.filter(id__in=item_ids, claim_token=token, status=BatchItem.Status.RUNNING)
        .select_related("case")
        .only(
            "id", "variant_id", "repeat", "attempts", "attempt_log",
            "case__input", "case__expected_output", "case__expected_fields",
        )
    )  # fmt: skip
    return [
        ItemWork(
            item_id=row.id,
            variant_id=row.variant_id,
            repeat=row.repeat,
            case_input=row.case.input or {},
            expected_output=row.case.expected_output,
            expected_fields=row.case.expected_fields or {},
            attempts=row.attempts,
            attempt_log=row.attempt_log or [],
        )
        for row in rows
    ]


def outcomes_write(*, outcomes: list[Outcome], token: str) -> list[tuple[int, float]]:
    """Store finished items and release the ones waiting for a retry; returns [(item_id, wait)] to re-enqueue."""
    now = timezone.now()
    rows, rescheduled = [], []
    for outcome in outcomes:
        row = BatchItem(
            id=outcome.item_id,
            attempts=outcome.attempts,
            attempt_log=outcome.attempt_log,
            claim_token="",
            not_before=None,
            enqueued_at=None,
            finished_at=now,
            model="",
            output="",
            error="",
            error_kind="",
            success=None,
            schema_passed=None,
            latency_ms=None,
            cost_usd=0.0,
            judge_cost_usd=0.0,
            input_tokens=0,
            output_tokens=0,
            cached=False,
            scores=[],
        )
        if outcome.status == "retry":
            row.status = BatchItem.Status.PENDING
            row.not_before = now + timedelta(seconds=outcome.wait_seconds)
            row.enqueued_at = now
            row.finished_at = None
            last = outcome.attempt_log[-1] if outcome.attempt_log else {}
            row.error, row.error_kind = last.get("error", ""), last.get("kind", "")
            rescheduled.append((outcome.item_id, outcome.wait_seconds))
        else:
            row.status = BatchItem.Status.DONE if outcome.status == "done" else BatchItem.Status.FAILED
            for name, value in outcome.values.items():
                setattr(row, name, value)
        rows.append(row)
    # Filtered on our token: rows whose lease another worker took over are left to their new owner.
    BatchItem.objects.filter(claim_token=token, status=BatchItem.Status.RUNNING).bulk_update(
        rows, RESULT_FIELDS, batch_size=200
    )
    return rescheduled


def pending_ids(*, batch_id: int, after_id: int, limit: int) -> list[int]:
    """Due pending items of the batch, from after_id on (then from the start), for a task with idle threads."""
    now = timezone.now()
    due = BatchItem.objects.filter(batch_id=batch_id, status=BatchItem.Status.PENDING).filter(
        Q(not_before__isnull=True) | Q(not_before__lte=now)
    )
    ids = list(due.filter(id__gt=after_id).order_by("id").values_list("id", flat=True)[:limit])
    return ids or list(due.order_by("id").values_list("id", flat=True)[:limit])


def batch_chunk_run(*, batch_id: int, item_ids: list[int]) -> ChunkReport:
    """Run the chunk's items; then, while threads are idle, take on further pending items of the batch.

    Taking on work ("stealing") keeps every slot of the provider busy across chunk boundaries: the
    messages of items taken this way find nothing left to claim. It stops after
    PROMPTLIB_BATCH_STEAL_SECONDS so that a task stays well inside Celery's time limit.
    """
    report = ChunkReport(rescheduled=[])
    batch = Batch.objects.select_related("provider").filter(id=batch_id).first()
    if batch is None or batch.status != Batch.Status.RUNNING:
        return report
    try:
        plans, scorers = plans_for(batch=batch)
    except BatchSetupError as exc:
        from promptlib.services.batches import batch_fail  # circular: batches enqueues chunks

        batch_fail(batch=batch, error=exc.message)
        return report
    token = uuid.uuid4().hex
    lease = float(settings.PROMPTLIB_BATCH_LEASE_SECONDS)
    cap = max((p.endpoint.config.max_concurrency for p in plans.values()), default=1)
    threads = max(1, min(cap, MAX_THREADS))
    # Claimed work queued ahead of the threads: a thread that frees up starts its next call at once.
    capacity = threads + max(2, threads // 2)
    queue = deque(item_ids)
    # Where to look for more work: a random point in the batch, so that workers do not all reach for the same rows.
    id_range = BatchItem.objects.filter(batch_id=batch_id).aggregate(lo=Min("id"), hi=Max("id"))
    steal_until = time.monotonic() + settings.PROMPTLIB_BATCH_STEAL_SECONDS
    in_flight: dict[Future, int] = {}
    finished: list[Outcome] = []
    writer = _Writer(token=token, report=report)
    last_write = last_renew = last_check = time.monotonic()
    running = stealing = True
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"batch{batch_id}") as pool:
        try:
            while True:
                free = capacity - len(in_flight)
                stolen = False
                if running and stealing and free > 0 and not queue:
                    if time.monotonic() < steal_until:
                        pivot = random.randint(id_range["lo"] or 0, id_range["hi"] or 0)
                        queue.extend(pending_ids(batch_id=batch_id, after_id=pivot, limit=free * 2))
                    stolen = stealing = bool(queue)
                if running and queue and free > 0:
                    group = [queue.popleft() for _ in range(min(free, len(queue)))]
                    claimed = items_claim(item_ids=group, token=token, lease_seconds=lease)
                    for work in claimed:
                        plan = plans[work.variant_id]
                        future = pool.submit(
                            item_call, work=work, plan=plan, scorers=scorers, use_cache=batch.use_cache
                        )
                        in_flight[future] = work.item_id
                        report.claimed += 1
                    if stolen and not claimed and not queue:
                        stealing = False  # other workers are taking the rest
                    if (queue or stealing) and len(in_flight) < capacity:
                        continue
                # Results are stored only once every free thread has new work: slots never wait on a write.
                now = time.monotonic()
                if finished and (now - last_write >= WRITE_EVERY_SECONDS or len(finished) >= threads or not in_flight):
                    writer.write(finished)
                    finished, last_write = [], now
                if not in_flight:
                    break
                done, _ = wait(in_flight, timeout=0.25, return_when=FIRST_COMPLETED)
                for future in done:
                    del in_flight[future]
                    finished.append(future.result())
                if now - last_renew >= lease / 3:
                    BatchItem.objects.filter(claim_token=token, status=BatchItem.Status.RUNNING).update(
                        lease_until=timezone.now() + timedelta(seconds=lease)
                    )
                    last_renew = now
                if running and now - last_check >= STATUS_CHECK_SECONDS:
                    running = Batch.objects.filter(id=batch_id, status=Batch.Status.RUNNING).exists()
                    last_check = now
        finally:
            if finished:
                writer.write(finished)
            writer.close()
    return report


class _Writer:
    """Stores outcomes on a thread of its own (with its own connection) so the claim loop never waits.

    Inside a transaction (tests, inline runs in a request) the rows are only visible on this
    connection, so there it writes in place.
    """

    def __init__(self, *, token: str, report: ChunkReport) -> None:
        self.token, self.report = token, report
        self.pool = None if connection.in_atomic_block else ThreadPoolExecutor(1, thread_name_prefix="batch-writer")
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
        self.pool.submit(connection.close)  # the writer thread's own connection
        self.pool.shutdown(wait=True)
        for future in self.futures:
            self.report.rescheduled += future.result()
