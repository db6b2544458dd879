"""Writing a batch's items: one row per (case, repeat, variant), in slices of whole cases.

On PostgreSQL a slice is one `INSERT … SELECT` over unnest(case ids) × generate_series(repeats) ×
unnest(variant ids), so no row travels from Python; elsewhere (SQLite) it is a bulk_create.
Each slice commits with the batch's `prepared` count, so the page shows progress and a task that
dies mid-way resumes after the last whole slice. Variants are interleaved per case, so that a
slow or rate-limited stretch hits every variant alike.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction

from promptlib.batches.models import Batch, BatchItem, Dataset

_meta = BatchItem._meta
# The columns an INSERT … SELECT sets: the key, and every NOT NULL column with its Python-side default
# ("" for text without one): Django sets defaults in Python, not in the database.
_KEY = ("batch", "variant", "case", "repeat")
_DEFAULTED = [f for f in _meta.concrete_fields if not f.primary_key and f.name not in _KEY and not f.null]


def case_ids_for(*, dataset: Dataset, tags: list[str] | tuple[str, ...]) -> list[int]:
    """The ids of the cases a batch runs, in the dataset's order (those with one of `tags`, if any)."""
    cases = dataset.cases.order_by("position")
    if not tags:
        return list(cases.values_list("id", flat=True))
    # JSON list membership differs between backends, so filter in Python.
    wanted = set(tags)
    return [case_id for case_id, case_tags in cases.values_list("id", "tags") if wanted & set(case_tags or [])]


def items_insert(*, batch_id: int, case_ids: list[int], repeats: int, variant_ids: list[int]) -> int:
    """Write the items of these cases; returns how many."""
    if not case_ids or not variant_ids:
        return 0
    if connection.vendor != "postgresql":
        BatchItem.objects.bulk_create(
            (
                BatchItem(batch_id=batch_id, variant_id=variant_id, case_id=case_id, repeat=repeat)
                for case_id in case_ids
                for repeat in range(repeats)
                for variant_id in variant_ids
            ),
            batch_size=2000,
        )
        return len(case_ids) * repeats * len(variant_ids)
    q = connection.ops.quote_name
    key_columns = [q(_meta.get_field(name).column) for name in _KEY]
    columns = ", ".join([*key_columns, *(q(f.column) for f in _DEFAULTED)])
    defaults = [f.get_db_prep_save(f.get_default(), connection) for f in _DEFAULTED]
    placeholders = ", ".join("%s" for _ in _DEFAULTED)
    # Identifiers come from the model's metadata; every value is a parameter.
    sql = (
        f"INSERT INTO {q(_meta.db_table)} ({columns}) "  # noqa: S608
        f"SELECT %s, v.id, c.id, r.n, {placeholders} "
        "FROM unnest(%s::bigint[]) WITH ORDINALITY AS c(id, pos) "
        "CROSS JOIN generate_series(0, %s) AS r(n) "
        "CROSS JOIN unnest(%s::bigint[]) WITH ORDINALITY AS v(id, pos) "
        "ORDER BY c.pos, r.n, v.pos"
    )
    with connection.cursor() as cursor:
        if connection.in_atomic_block and not connection.savepoint_ids:
            # The task's own transaction: a slice and its `prepared` count commit together, so if the server
            # crashed before the commit reached the disk both are lost and the task resumes before it.
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(sql, [batch_id, *defaults, list(case_ids), repeats - 1, list(variant_ids)])
        return cursor.rowcount


def cases_per_slice(*, repeats: int, variants: int) -> int:
    """Whole cases per statement: about PROMPTLIB_BATCH_PREPARE_SLICE items."""
    return max(1, settings.PROMPTLIB_BATCH_PREPARE_SLICE // max(1, repeats * variants))


def batch_items_write(*, batch: Batch, case_ids: list[int], on_slice=None) -> bool:
    """Write the batch's items from where the last committed slice ended; False if it stopped being prepared.

    Each slice reads the `prepared` count under the batch's row lock and commits with the new count,
    so a second task preparing the same batch (a redelivered or re-sent message) takes turns with the
    first instead of writing a slice twice. `on_slice` is called after each slice (tests fail there).
    """
    per_item = batch.repeats * len(batch.variant_ids)
    step = cases_per_slice(repeats=batch.repeats, variants=len(batch.variant_ids))
    while True:
        with transaction.atomic():
            row = Batch.objects.select_for_update().filter(pk=batch.pk, status=Batch.Status.PREPARING)
            prepared = row.values_list("prepared", flat=True).first()
            if prepared is None:
                return False  # cancelled meanwhile (or prepared by another task)
            first = prepared // per_item if per_item else len(case_ids)
            if first >= len(case_ids):
                return True
            written = items_insert(batch_id=batch.pk, case_ids=case_ids[first : first + step],
                                   repeats=batch.repeats, variant_ids=list(batch.variant_ids))  # fmt: skip
            batch.prepared = prepared + written
            Batch.objects.filter(pk=batch.pk).update(prepared=batch.prepared)
        if on_slice is not None:
            on_slice(batch)
