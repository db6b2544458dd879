"""Reads for batches and datasets: lookups, live progress, per-variant metrics (formulas: experiments.metrics)."""

from __future__ import annotations

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from promptlib.batches.models import Batch, BatchItem, Dataset
from promptlib.batches.rollups import rollup_sources
from promptlib.batches.sums import call_sums, latency_percentiles, review_sums, variant_aggregates
from promptlib.core.jsonvalues import MAX_BIGINT
from promptlib.experiments.metrics import metrics_from_aggregates
from promptlib.knowledge.selectors import chunks_load

Status = BatchItem.Status
NAME_MAX = Dataset._meta.get_field("name").max_length


def datasets_list(*, project_id: int) -> QuerySet[Dataset]:
    """The project's datasets (their newest versions) by name, each with its number of cases as case_total."""
    rows = Dataset.objects.current().filter(project_id=project_id).select_related("template")
    return rows.annotate(case_total=Count("cases")).order_by("name")


def ref_id(ref: str | int) -> int | None:
    """The id a reference (id or name, from a URL or a command line) gives, or None if it is a name.

    ASCII digits only: str.isdigit() also accepts '²' (which int() refuses) and '١٢' (which int()
    reads as 12). An id beyond the database's bigint is no id.
    """
    text = str(ref)
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    number = int(text)
    return number if number <= MAX_BIGINT else None


def dataset_find(*, project_id: int, ref: str | int) -> Dataset | None:
    """A dataset by id when `ref` is all (ASCII) digits, else by name; None for no such dataset."""
    rows = Dataset.objects.filter(project_id=project_id)
    pk = ref_id(ref)
    if pk is not None:
        return rows.filter(pk=pk).first()
    name = str(ref)
    if "\x00" in name or len(name) > NAME_MAX:  # no stored name has them; PostgreSQL refuses a NUL
        return None
    return rows.current().filter(name=name).first()  # a name means the newest version


def dataset_for_template(*, template_id: int) -> Dataset | None:
    """The template's dataset (the one most recently changed, if it has several)."""
    return Dataset.objects.current().filter(template_id=template_id).order_by("-updated_at", "-pk").first()


def batches_list(*, project_id: int) -> QuerySet[Batch]:
    return Batch.objects.filter(project_id=project_id).order_by("-created_at")


def batch_find(*, project_id: int, pk: int) -> Batch | None:
    return Batch.objects.filter(project_id=project_id, pk=pk).select_related("experiment").first()


def batch_progress(*, batch: Batch) -> dict:
    """Counts by status, calls per second since the (last) start, and an estimate of the time left.

    A re-run of failed items starts again: its rate counts only the calls finished since then.
    """
    since = Q(finished_at__gte=batch.started_at or batch.created_at)
    rows = list(
        BatchItem.objects.filter(batch=batch)
        .values_list("status")
        .annotate(n=Count("id"), new=Count("id", filter=since))
    )
    counts = {status: n for status, n, _ in rows}
    done, failed = counts.get(Status.DONE, 0), counts.get(Status.FAILED, 0)
    finished = done + failed
    finished_now = sum(new for status, _, new in rows if status in (Status.DONE, Status.FAILED))
    remaining = counts.get(Status.PENDING, 0) + counts.get(Status.RUNNING, 0)
    elapsed = None
    if batch.started_at:
        elapsed = ((batch.finished_at or timezone.now()) - batch.started_at).total_seconds()
    rate = finished_now / elapsed if elapsed and finished_now else 0.0
    # Calls written so far: all of them once the batch is no longer preparing.
    prepared = batch.prepared if batch.status == Batch.Status.PREPARING else batch.total
    return {
        "id": batch.pk,
        "status": batch.status,
        "total": batch.total,
        "prepared": prepared,
        "prepared_percent": round(100 * prepared / batch.total, 1) if batch.total else 100.0,
        "done": done,
        "failed": failed,
        "pending": counts.get(Status.PENDING, 0),
        "running": counts.get(Status.RUNNING, 0),
        "cancelled": counts.get(Status.CANCELLED, 0),
        "percent": round(100 * finished / batch.total, 1) if batch.total else 100.0,
        "calls_per_second": round(rate, 2),
        "eta_seconds": round(remaining / rate) if rate and remaining and batch.status == "running" else None,
        "elapsed_seconds": round(elapsed, 1) if elapsed is not None else None,
        "error": batch.error,
    }


def batch_error_summary(*, batch: Batch) -> list[dict]:
    """The failed calls grouped by kind of error, most first: [{kind, count, example}] (example: one message)."""
    groups = (
        BatchItem.objects.filter(batch=batch, status=Status.FAILED)
        .values("error_kind")
        .annotate(count=Count("id"), first=Min("id"))
        .order_by("-count", "error_kind")
    )
    groups = list(groups)
    examples = dict(BatchItem.objects.filter(id__in=[g["first"] for g in groups]).values_list("id", "error"))
    return [{"kind": g["error_kind"] or "unknown", "count": g["count"], "example": examples.get(g["first"], "")}
            for g in groups]  # fmt: skip


def batch_items_list(*, batch: Batch, status: str = "") -> QuerySet[BatchItem]:
    """The batch's items in order, with their variant's key; only those of `status` when given."""
    items = BatchItem.objects.filter(batch=batch).select_related("variant").order_by("id")
    return items.filter(status=status) if status else items


def batch_variant_aggregates(*, batch: Batch) -> dict[int, dict[str, float | int | None]]:
    """{variant id: aggregates} over the batch's finished calls, from the SQL sums the experiment report
    reads too: over the batch's rollups when it is finished (built now if missing), else its items."""
    sources = rollup_sources(batch_ids=[batch.pk])
    percentiles, _ = latency_percentiles(sources=sources)
    return variant_aggregates(
        sums=call_sums(sources=sources),
        percentiles=percentiles,
        reviews=review_sums(batch_ids=[batch.pk]),
        reviewer_hourly_usd=float(batch.project.reviewer_hourly_usd),
    )


def batch_variant_metrics(*, batch: Batch) -> list[dict]:
    """[{variant, is_control, metrics}] for the batch's variants with finished calls, control first."""
    aggregates = batch_variant_aggregates(batch=batch)
    variants = batch.experiment.variants.select_related("version").filter(pk__in=aggregates.keys())
    return [
        {"variant": v.key, "variant_id": v.pk, "version": v.version.number, "is_control": v.is_control,
         "metrics": metrics_from_aggregates(aggregates[v.pk])}
        for v in variants
    ]  # fmt: skip


def item_passages(*, retrieved: list[dict] | None) -> list[dict]:
    """The passages a call was given ({id, title, source, score} as its item recorded them) with their text,
    in their order, so that the prompt can be shown (or exported) as the model saw it. Chunks never change."""
    if not retrieved:
        return []
    chunks = {c.id: c for c in chunks_load([(p["id"], p.get("score", 0.0)) for p in retrieved])}
    return [{**p, "text": chunks[p["id"]].text if p["id"] in chunks else ""} for p in retrieved]
