"""Batches: create, prepare (write the items), start, cancel, re-run failed items, finish, and the sweeper.

States: preparing → pending → running → finished | failed | cancelled; finished/failed/cancelled →
running again when failed items are re-run. A small batch is prepared while it is created; a big
one by a task (promptlib.tasks.batch_prepare), so that creating returns at once whatever the size.
Work is enqueued after commit in chunks of item ids (promptlib.tasks.batch_chunk);
promptlib/batches/runner.py runs a chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from celery import current_app
from django.conf import settings as conf  # "settings" names a batch's BatchSettings below
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from promptlib.batches.claims import items_release_expired
from promptlib.batches.models import Batch, BatchItem, BatchSchedule, Dataset
from promptlib.batches.prepare import batch_items_write, case_ids_for
from promptlib.batches.rollups import batch_rollup_build
from promptlib.batches.runner import BatchSetupError, batch_chunk_run, provider_for_version
from promptlib.core.errors import DomainError
from promptlib.experiments.models import Experiment
from promptlib.providers.models import ProviderConfig

Status = Batch.Status
ItemStatus = BatchItem.Status
OPEN = (Status.PREPARING, Status.PENDING, Status.RUNNING)  # not stopped yet
MAX_REPEATS = 100
BULK_SIZE = 2000
MIN_CHUNKS = 16
# Tasks, sent by name (promptlib/tasks.py): services never import the task module (it imports them).
CHUNK_TASK = "promptlib.tasks.batch_chunk"
PREPARE_TASK = "promptlib.tasks.batch_prepare"


class BatchError(DomainError):
    pass


@dataclass(frozen=True)
class BatchSettings:
    """What a batch runs: the same fields for a batch, a schedule and every form or request that makes one."""

    experiment: Experiment
    dataset: Dataset
    provider: ProviderConfig | None = None  # None: each version's own provider
    model: str = ""  # "": each version's own model
    repeats: int = 1
    tags: tuple[str, ...] = ()  # only cases with every tag; () for all
    use_cache: bool = False
    variant_keys: tuple[str, ...] = ()  # () for every variant

    def __post_init__(self):
        # Lists from forms and JSON become tuples; anything else is left for validation to refuse.
        for name in ("tags", "variant_keys"):
            value = getattr(self, name)
            if value is None or isinstance(value, list):
                object.__setattr__(self, name, tuple(value or ()))

    @classmethod
    def of(cls, source: Batch | BatchSchedule) -> BatchSettings:
        """The settings a batch ran with, or a schedule runs with."""
        return cls(
            experiment=source.experiment, dataset=source.dataset, provider=source.provider, model=source.model,
            repeats=source.repeats, tags=tuple(source.tags), use_cache=source.use_cache,
        )  # fmt: skip


def batch_settings_validate(*, settings: BatchSettings) -> list:
    """Check what a batch (or a schedule) would run; returns the variants it covers."""
    experiment, dataset, provider, model = settings.experiment, settings.dataset, settings.provider, settings.model
    repeats, tags, variant_keys = settings.repeats, settings.tags, settings.variant_keys
    if dataset.project_id != experiment.project_id:
        raise BatchError("The dataset belongs to another project.", field="dataset")
    if provider is not None and provider.project_id != experiment.project_id:
        raise BatchError("The provider belongs to another project.", field="provider")
    if provider is not None and model and provider.models and model not in provider.models:
        raise BatchError(f"Provider '{provider.name}' does not offer model '{model}'.", field="model")
    if not isinstance(repeats, int) or isinstance(repeats, bool) or not 1 <= repeats <= MAX_REPEATS:
        raise BatchError(f"Repeats must be a whole number from 1 to {MAX_REPEATS}.", field="repeats")
    if not (isinstance(tags, tuple) and all(isinstance(t, str) for t in tags)):
        raise BatchError("Tags must be a list of words.", field="tags")
    variants = list(experiment.variants.select_related("version"))
    if variant_keys:
        unknown = sorted(set(variant_keys) - {v.key for v in variants})
        if unknown:
            raise BatchError(f"Unknown variant '{unknown[0]}' in this experiment.", field="variants")
        variants = [v for v in variants if v.key in variant_keys]
    if not variants:
        raise BatchError("The experiment has no variants to run.", field="experiment")
    for variant in variants:
        try:
            config = provider_for_version(
                batch_provider=provider, project_id=experiment.project_id, version=variant.version
            )
        except BatchSetupError as exc:
            raise BatchError(exc.message, field=exc.field) from exc
        if not (model or variant.version.model or config.models):
            raise BatchError(f"No model for variant '{variant.key}': set the batch's model.", field="model")
    return variants


@transaction.atomic
def batch_create(*, settings: BatchSettings, created_by=None, schedule=None) -> Batch:
    """A batch in `preparing` whose items are written now if it is small, else by a task after commit."""
    variants = batch_settings_validate(settings=settings)
    experiment, dataset, repeats, tags = settings.experiment, settings.dataset, settings.repeats, list(settings.tags)
    cases = len(case_ids_for(dataset=dataset, tags=tags))
    if not cases:
        field = "tags" if tags else "dataset"
        raise BatchError("No cases to run: the dataset is empty or no case has these tags.", field=field)
    total = cases * repeats * len(variants)
    if total > conf.PROMPTLIB_BATCH_MAX_ITEMS:
        raise BatchError(
            f"This batch would make {total:,} calls ({cases:,} cases × {repeats} repeats × {len(variants)} "
            f"variants); at most {conf.PROMPTLIB_BATCH_MAX_ITEMS:,} per batch. Use fewer repeats, "
            "a tag filter or fewer variants.",
            field="repeats",
        )
    batch = Batch.objects.create(
        project_id=experiment.project_id,
        experiment=experiment,
        dataset=dataset,
        provider=settings.provider,
        model=settings.model,
        repeats=repeats,
        tags=tags,
        use_cache=settings.use_cache,
        created_by=created_by if created_by is not None and created_by.is_authenticated else None,
        schedule=schedule,
        total=total,
        status=Status.PREPARING,
        variant_ids=[variant.pk for variant in variants],
    )
    if total <= conf.PROMPTLIB_BATCH_PREPARE_INLINE_ITEMS:
        batch_prepare(batch_id=batch.pk)
    else:
        transaction.on_commit(lambda: _send_prepare(batch.pk))
    batch.refresh_from_db()
    return batch


def batch_prepare(*, batch_id: int, on_slice=None) -> Batch | None:
    """Write a preparing batch's items, then make it pending (or running, if asked to start meanwhile).

    Safe to run twice (a redelivered task resumes after the last written slice). A failure leaves no
    item behind and the batch failed with the reason.
    """
    batch = Batch.objects.filter(pk=batch_id, status=Status.PREPARING).select_related("dataset").first()
    if batch is None:
        return None  # prepared already, or cancelled
    case_ids = case_ids_for(dataset=batch.dataset, tags=batch.tags)
    try:
        if not batch_items_write(batch=batch, case_ids=case_ids, on_slice=on_slice):
            batch_items_close(batch_ids=[batch_id])  # cancelled while preparing (or prepared by another task)
            return batch
    except Exception as exc:
        with transaction.atomic():
            BatchItem.objects.filter(batch_id=batch_id).delete()
            Batch.objects.filter(pk=batch_id, status=Status.PREPARING).update(
                status=Status.FAILED, prepared=0, finished_at=timezone.now(),
                error=f"Preparing the batch's calls failed, so none was written: {exc}"[:2000],
            )  # fmt: skip
        raise
    with transaction.atomic():
        locked = Batch.objects.select_for_update().get(pk=batch_id)
        if locked.status != Status.PREPARING:
            return locked
        written = BatchItem.objects.filter(batch_id=batch_id).count()
        start = locked.start_when_prepared
        Batch.objects.filter(pk=batch_id).update(
            status=Status.RUNNING if start else Status.PENDING, total=written, prepared=written,
            started_at=timezone.now() if start else None,
        )  # fmt: skip
        if start:
            _enqueue_pending(batch=locked)
    locked.refresh_from_db()
    return locked


def items_enqueue(*, batch_id: int, item_ids: list[int], countdown: float | None = None) -> None:
    """Send chunks of item ids to the workers once the current transaction commits."""
    if not item_ids:
        return
    # At least MIN_CHUNKS messages when there are enough items, so that every pool process of a worker
    # gets a share of a small batch (each runs only its share of the provider's cap in threads).
    size = max(1, min(conf.PROMPTLIB_BATCH_CHUNK_SIZE, -(-len(item_ids) // MIN_CHUNKS)))
    chunks = [item_ids[i : i + size] for i in range(0, len(item_ids), size)]

    def send() -> None:
        # By name: services never import the task module (it imports them).
        task = current_app.signature(CHUNK_TASK)
        for chunk in chunks:
            task.apply_async(args=(batch_id, chunk), queue=conf.CELERY_TASK_DEFAULT_QUEUE, countdown=countdown)

    transaction.on_commit(send)


def _enqueue_pending(*, batch: Batch) -> int:
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            BatchItem.objects.filter(batch=batch, status=ItemStatus.PENDING).order_by("id").values_list("id", flat=True)
        )
        BatchItem.objects.filter(batch=batch, status=ItemStatus.PENDING).update(enqueued_at=now)
        items_enqueue(batch_id=batch.pk, item_ids=ids)
    return len(ids)


def batch_start(*, batch: Batch) -> Batch:
    """Start a pending batch; a batch still preparing starts once its items are written."""
    with transaction.atomic():
        changed = Batch.objects.filter(pk=batch.pk, status=Status.PENDING).update(
            status=Status.RUNNING, started_at=timezone.now()
        )
        if changed:
            _enqueue_pending(batch=batch)
        # Re-checked by batch_prepare under a row lock, so the flag cannot be missed.
        elif not Batch.objects.filter(pk=batch.pk, status=Status.PREPARING).update(start_when_prepared=True):
            batch.refresh_from_db(fields=["status"])
            raise BatchError(f"Only a pending batch can start; this one is {batch.status}.", field="status")
    batch.refresh_from_db()
    return batch


def batch_cancel(*, batch: Batch) -> Batch:
    """Stop a batch: pending items are cancelled now, calls in flight finish and are kept."""
    with transaction.atomic():
        changed = Batch.objects.filter(pk=batch.pk, status__in=OPEN).update(
            status=Status.CANCELLED, finished_at=timezone.now()
        )
        if not changed:
            batch.refresh_from_db(fields=["status"])
            raise BatchError(
                f"Only a preparing, pending or running batch can be cancelled; this one is {batch.status}.",
                field="status",
            )
        batch_items_close(batch_ids=[batch.pk])
    batch.refresh_from_db()
    return batch


def batch_items_close(*, batch_ids: list[int]) -> int:
    """Cancel the pending items of those of the batches that are stopped; returns how many.

    A call in flight when its batch is cancelled may end in a retry, which writes its item back as
    pending (waiting for the retry): it is closed here, by the chunk that ran it and by the sweeper.
    """
    items = BatchItem.objects.filter(batch_id__in=batch_ids, status=ItemStatus.PENDING)
    items = items.exclude(batch__status__in=OPEN)
    return items.update(status=ItemStatus.CANCELLED, not_before=None, claim_token="")


def batch_rerun_failed(*, batch: Batch) -> int:
    """Run the failed items again (same rows, so each key still has one result); returns how many.

    A failed batch (stopped by its first calls' failures, or unable to run) resumes: the items its
    failure cancelled run too.
    """
    with transaction.atomic():
        locked = Batch.objects.select_for_update().get(pk=batch.pk)
        if locked.status in OPEN:
            raise BatchError("The batch is still running; wait for it to finish.", field="status")
        again = [ItemStatus.FAILED, ItemStatus.CANCELLED] if locked.status == Status.FAILED else [ItemStatus.FAILED]
        # The attempts so far stay (the retry rate counts every call); the retry budget counts from here.
        count = BatchItem.objects.filter(batch=batch, status__in=again).update(
            status=ItemStatus.PENDING, rerun_from=F("attempts"), error="", error_kind="", success=None,
            finished_at=None, not_before=None, claim_token="",
        )  # fmt: skip
        if not count:
            raise BatchError("This batch has no failed items to re-run.", field="status")
        # A run of its own: its progress (rate, time left) counts from now, not from the first run.
        Batch.objects.filter(pk=batch.pk).update(
            status=Status.RUNNING, started_at=timezone.now(), finished_at=None, error=""
        )
        _enqueue_pending(batch=batch)
    batch.refresh_from_db()
    return count


def batch_complete_if_done(*, batch_id: int) -> bool:
    """Mark a running batch finished once nothing is pending or running (failed if nothing succeeded)."""
    open_items = BatchItem.objects.filter(batch_id=batch_id, status__in=[ItemStatus.PENDING, ItemStatus.RUNNING])
    if open_items.exists():
        return False
    any_done = BatchItem.objects.filter(batch_id=batch_id, status=ItemStatus.DONE).exists()
    changed = Batch.objects.filter(pk=batch_id, status=Status.RUNNING).update(
        status=Status.FINISHED if any_done else Status.FAILED,
        error="" if any_done else "Every call failed; see the items' errors.",
        finished_at=timezone.now(),
    )
    if changed and any_done:
        # The winner report reads these per-case sums instead of every item.
        batch_rollup_build(batch_id=batch_id)
    return bool(changed)


def batch_chunk_execute(*, batch_id: int, item_ids: list[int]) -> None:
    """Run one chunk, re-enqueue the items waiting for a retry, and finish the batch when it is done."""
    report = batch_chunk_run(batch_id=batch_id, item_ids=item_ids)
    if not Batch.objects.filter(pk=batch_id, status=Status.RUNNING).exists():
        batch_items_close(batch_ids=[batch_id])  # stopped while calls were in flight: no retry waits
        return
    for item_id, wait in report.rescheduled or []:
        items_enqueue(batch_id=batch_id, item_ids=[item_id], countdown=wait)
    batch_complete_if_done(batch_id=batch_id)


def batch_run_inline(*, batch: Batch) -> Batch:
    """Prepare, start and run a batch in this process (the offline demo, tests); retries wait here too."""
    if batch.status == Status.PREPARING:
        batch = batch_prepare(batch_id=batch.pk) or batch
    if batch.status == Status.PENDING:
        Batch.objects.filter(pk=batch.pk).update(status=Status.RUNNING, started_at=timezone.now())
    while True:
        ids = list(
            BatchItem.objects.filter(batch=batch, status__in=[ItemStatus.PENDING, ItemStatus.RUNNING]).values_list(
                "id", flat=True
            )
        )
        if not ids or not Batch.objects.filter(pk=batch.pk, status=Status.RUNNING).exists():
            break
        report = batch_chunk_run(batch_id=batch.pk, item_ids=ids)
        if report.rescheduled:
            import time

            time.sleep(max(wait for _, wait in report.rescheduled))
    batch_items_close(batch_ids=[batch.pk])
    batch_complete_if_done(batch_id=batch.pk)
    batch.refresh_from_db()
    return batch


def batches_sweep() -> dict[str, int]:
    """The safety net behind broker redelivery: expired leases, lost messages, finished batches.

    Run every PROMPTLIB_BATCH_SWEEP_SECONDS by a timer in the celery beat process (promptlib/batches/
    sweeper.py), never through the task queue, so that chunks cannot delay it; and by `run_batch --wait`.
    """
    now = timezone.now()
    # Items whose worker died: released (counted as a lost call); those of a stopped batch cancelled.
    released = items_release_expired(now=now)
    # A retry written back just after a cancel, by a chunk whose worker then died (the chunk closes its own).
    stopped = Batch.objects.filter(finished_at__gte=now - timedelta(days=1)).exclude(status__in=OPEN)
    batch_items_close(batch_ids=list(stopped.values_list("id", flat=True)))
    requeue_before = now - timedelta(seconds=conf.PROMPTLIB_BATCH_REQUEUE_SECONDS)
    stale = BatchItem.objects.filter(
        Q(status=ItemStatus.PENDING, enqueued_at__lt=requeue_before)
        | Q(status=ItemStatus.PENDING, enqueued_at__isnull=True),
        batch__status=Status.RUNNING,
    ).filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
    by_batch: dict[int, list[int]] = {}
    for item_id, batch_id in released:
        by_batch.setdefault(batch_id, []).append(item_id)
    requeued = 0
    with transaction.atomic():
        for item_id, batch_id in stale.values_list("id", "batch_id")[:50_000]:
            by_batch.setdefault(batch_id, []).append(item_id)
        for batch_id, ids in by_batch.items():
            # The same condition again: an item claimed or finished meanwhile is left alone.
            for start in range(0, len(ids), BULK_SIZE):
                BatchItem.objects.filter(id__in=ids[start : start + BULK_SIZE], status=ItemStatus.PENDING).update(
                    enqueued_at=now
                )
            items_enqueue(batch_id=batch_id, item_ids=ids)
            requeued += len(ids)
    finished = sum(
        batch_complete_if_done(batch_id=batch_id)
        for batch_id in Batch.objects.filter(status=Status.RUNNING).values_list("id", flat=True)
    )
    return {"requeued": requeued, "released": len(released), "finished": finished, "prepare_resent": _resend_prepare()}


def _resend_prepare() -> int:
    """Send the prepare task again for batches preparing for long (its message lost with a dead worker).

    Once per PROMPTLIB_BATCH_REQUEUE_SECONDS per batch; a second task on a batch still being prepared
    waits for the first one's slices (promptlib/batches/prepare.py), so a needless one costs nothing.
    """
    period = conf.PROMPTLIB_BATCH_REQUEUE_SECONDS
    old = Batch.objects.filter(status=Status.PREPARING, created_at__lt=timezone.now() - timedelta(seconds=period))
    sent = 0
    for batch_id in old.values_list("id", flat=True):
        if cache.add(f"promptlib:batch-prepare-resent:{batch_id}", 1, timeout=max(1, int(period))):
            _send_prepare(batch_id)
            sent += 1
    return sent


def _send_prepare(batch_id: int) -> None:
    current_app.signature(PREPARE_TASK).apply_async(args=(batch_id,), queue=conf.CELERY_TASK_DEFAULT_QUEUE)
