"""The batch runner's reads and writes of BatchItem rows, each in one round trip.

They run once per few calls, so they are written as plain SQL rather than built by the ORM each
time (the ORM's bulk_update, a CASE WHEN per row and column, cost more CPU than the calls):
- a claim is one `UPDATE … RETURNING` (PostgreSQL and SQLite ≥ 3.35): only rows still claimable
  change, and the rows returned are exactly the ones this run now owns;
- results are one `UPDATE … FROM json_to_recordset(…)` on PostgreSQL (bulk_update elsewhere), filtered on
  the run's claim token, so a run whose lease was taken over never overwrites the new owner's row;
- an item taken back from a worker whose lease expired (it died, e.g. SIGKILL) counts one lost call:
  attempts + 1 and a "lost" entry in its attempt log, in the same statement.
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from promptlib.batches.calls import ItemWork, Outcome
from promptlib.batches.models import Batch, BatchItem, DatasetCase

RUNNING, PENDING = BatchItem.Status.RUNNING, BatchItem.Status.PENDING
RESULT_FIELDS = [
    "status", "claim_token", "finished_at", "attempts", "attempt_log", "not_before", "enqueued_at", "model",
    "output", "error", "error_kind", "success", "schema_passed", "latency_ms", "cost_usd", "judge_cost_usd",
    "judge_unread", "input_tokens", "output_tokens", "cached", "scores", "retrieved", "retrieval_ms",
    "context_expected", "context_found", "citations_made", "citations_valid", "faithful",
]  # fmt: skip
_CLEARED = {
    "claim_token": "", "not_before": None, "enqueued_at": None, "model": "", "output": "", "error": "",
    "error_kind": "", "success": None, "schema_passed": None, "latency_ms": None, "cost_usd": 0.0,
    "judge_cost_usd": 0.0, "judge_unread": 0, "input_tokens": 0, "output_tokens": 0, "cached": False, "scores": [],
    "retrieved": [], "retrieval_ms": None, "context_expected": 0, "context_found": 0, "citations_made": 0,
    "citations_valid": 0, "faithful": None,
}  # fmt: skip
_meta = BatchItem._meta
_CLAIM_COLUMNS = [
    "id", "variant", "case", "repeat", "attempts", "attempt_log", "rerun_from", "status", "claim_token",
    "claimed_at", "lease_until", "not_before", "batch",
]  # fmt: skip
LOST_KIND = "lost"
# Whether a lost call reached the provider, and what it cost, cannot be known: it costs $0 here, and
# its entry says so.
LOST_ENTRY = {
    "ok": False,
    "kind": LOST_KIND,
    "cost_unknown": True,
    "error": "The worker making this call stopped (killed or crashed) before it answered; "
    "the call may have reached the provider, at a cost not known here.",
}


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _prep(name: str, value):
    return _meta.get_field(name).get_db_prep_save(value, connection)


# input, expected_output, expected_fields, expected_sources, expected_facts
CaseData = tuple[dict, str, dict, list, list]


def cases_load(*, case_ids, known: dict[int, CaseData]) -> dict[int, CaseData]:
    """Fill `known` with the cases not loaded yet (a chunk reads each case once, however many repeats)."""
    missing = set(case_ids) - known.keys()
    if missing:
        rows = DatasetCase.objects.filter(id__in=missing).values_list(
            "id", "input", "expected_output", "expected_fields", "expected_sources", "expected_facts"
        )
        for case_id, inp, expected_output, expected_fields, sources, facts in rows:
            known[case_id] = (inp or {}, expected_output, expected_fields or {}, sources or [], facts or [])
    return known


def _lost_call(c: dict[str, str]) -> tuple[str, str, list]:
    """New attempts and attempt_log of an item whose call was lost (a "lost" entry numbered n); the log's parameters."""
    attempts, log = c["attempts"], c["attempt_log"]
    if connection.vendor == "postgresql":
        append = f"{log} || jsonb_build_array(%s::jsonb || jsonb_build_object('n', {attempts} + 1))"
    else:
        append = f"json_insert({log}, '$[#]', json_set(json(%s), '$.n', {attempts} + 1))"
    return f"{attempts} + 1", append, [json.dumps(LOST_ENTRY)]


def _columns() -> dict[str, str]:
    return {name: _q(_meta.get_field(name).column) for name in _CLAIM_COLUMNS}


def items_release_expired(*, now) -> list[tuple[int, int]]:
    """Items whose lease expired (their worker died): pending again, or cancelled if their batch stopped.

    Each counts one lost call. Returns [(item id, batch id)] of those now pending, to enqueue.
    """
    table, c = _q(_meta.db_table), _columns()
    attempts, log, log_params = _lost_call(c)
    batches = _q(Batch._meta.db_table)
    # Identifiers come from the models' metadata; every value is a parameter.
    sql = (
        f"UPDATE {table} SET {c['attempts']} = {attempts}, {c['attempt_log']} = {log}, "  # noqa: S608
        f"{c['claim_token']} = '', {c['status']} = CASE WHEN {c['batch']} IN "
        f"(SELECT id FROM {batches} WHERE status = %s) THEN %s ELSE %s END "
        f"WHERE {c['status']} = %s AND {c['lease_until']} < %s RETURNING {c['id']}, {c['batch']}, {c['status']}"
    )
    params = [*log_params, Batch.Status.RUNNING, PENDING, BatchItem.Status.CANCELLED, RUNNING,
              _prep("lease_until", now)]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted((item_id, batch_id) for item_id, batch_id, status in cursor.fetchall() if status == PENDING)


def items_claim(
    *, item_ids: list[int], token: str, lease_seconds: float, cases: dict[int, CaseData] | None = None
) -> list[ItemWork]:
    """Claim what is still claimable of item_ids (pending and due, or running with an expired lease)."""
    if not item_ids:
        return []
    now = timezone.now()
    table, c = _q(_meta.db_table), _columns()
    returned = ", ".join(
        c[name] for name in ["id", "variant", "case", "repeat", "attempts", "attempt_log", "rerun_from"]
    )
    # Taking over an expired lease counts the call its dead worker lost (SET sees the row as it was).
    attempts, log, log_params = _lost_call(c)
    was_running = f"{c['status']} = %s"
    # Identifiers come from the model's metadata; every value is a parameter.
    sql = (
        f"UPDATE {table} SET {c['attempts']} = CASE WHEN {was_running} THEN {attempts} "  # noqa: S608
        f"ELSE {c['attempts']} END, {c['attempt_log']} = CASE WHEN {was_running} THEN {log} "
        f"ELSE {c['attempt_log']} END, "
        f"{c['status']} = %s, {c['claim_token']} = %s, {c['claimed_at']} = %s, "
        f"{c['lease_until']} = %s WHERE {c['id']} IN ({', '.join(['%s'] * len(item_ids))}) AND ("
        f"({c['status']} = %s AND ({c['not_before']} IS NULL OR {c['not_before']} <= %s)) "
        f"OR ({c['status']} = %s AND {c['lease_until']} < %s)) RETURNING {returned}"
    )
    stamp, lease = _prep("claimed_at", now), _prep("lease_until", now + timedelta(seconds=lease_seconds))
    params = [RUNNING, RUNNING, *log_params, RUNNING, token, stamp, lease, *item_ids, PENDING, stamp, RUNNING, stamp]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    log_field = _meta.get_field("attempt_log")
    cases = cases_load(case_ids={row[2] for row in rows}, known={} if cases is None else cases)
    claimed = []
    for item_id, variant_id, case_id, repeat, attempts, attempt_log, rerun_from in sorted(rows):
        case_input, expected_output, expected_fields, expected_sources, expected_facts = cases[case_id]
        log = log_field.from_db_value(attempt_log, None, connection) if isinstance(attempt_log, str) else attempt_log
        claimed.append(
            ItemWork(
                item_id=item_id,
                variant_id=variant_id,
                case_id=case_id,
                repeat=repeat,
                case_input=case_input,
                expected_output=expected_output,
                expected_fields=expected_fields,
                expected_sources=expected_sources,
                expected_facts=expected_facts,
                attempts=attempts,
                attempt_log=log or [],
                rerun_from=rerun_from,
            )
        )
    return claimed


def _result_values(outcome: Outcome, now) -> tuple[dict, tuple[int, float] | None]:
    values = {**_CLEARED, "attempts": outcome.attempts, "attempt_log": outcome.attempt_log, "finished_at": now}
    if outcome.status == "retry":
        last = outcome.attempt_log[-1] if outcome.attempt_log else {}
        values.update(
            status=PENDING,
            not_before=now + timedelta(seconds=outcome.wait_seconds),
            enqueued_at=now,
            finished_at=None,
            error=last.get("error", ""),
            error_kind=last.get("kind", ""),
        )
        return values, (outcome.item_id, outcome.wait_seconds)
    values["status"] = BatchItem.Status.DONE if outcome.status == "done" else BatchItem.Status.FAILED
    values.update(outcome.values)
    return values, None


def outcomes_write(*, outcomes: list[Outcome], token: str) -> list[tuple[int, float]]:
    """Store finished items and release the ones waiting for a retry; returns [(item_id, wait)] to re-enqueue."""
    now = timezone.now()
    rows, rescheduled = [], []
    for outcome in outcomes:
        values, retry = _result_values(outcome, now)
        rows.append((outcome.item_id, values))
        if retry:
            rescheduled.append(retry)
    if connection.vendor == "postgresql":
        _update_from_values(rows, token)
    else:
        objs = [BatchItem(id=item_id, **values) for item_id, values in rows]
        BatchItem.objects.filter(claim_token=token, status=RUNNING).bulk_update(objs, RESULT_FIELDS, batch_size=200)
    return rescheduled


def _update_from_values(rows: list[tuple[int, dict]], token: str) -> None:
    """One UPDATE whose rows arrive as a single JSON parameter, typed by json_to_recordset's column list.

    (A VALUES list would need a placeholder per value, which the driver parses on every call.)
    """
    fields = [_meta.get_field(name) for name in RESULT_FIELDS]
    pk = _meta.pk.column
    payload = json.dumps([{pk: item_id, **{f.column: values[f.name] for f in fields}} for item_id, values in rows],
                         default=str)  # fmt: skip  # datetimes as ISO text with their offset
    typed = ", ".join([f"{_q(pk)} bigint", *(f"{_q(f.column)} {f.db_type(connection)}" for f in fields)])
    sets = ", ".join(f"{_q(f.column)} = v.{_q(f.column)}" for f in fields)
    token_column, status_column = _q(_meta.get_field("claim_token").column), _q(_meta.get_field("status").column)
    # Identifiers from the model's metadata, values as parameters.
    sql = (
        f"UPDATE {_q(_meta.db_table)} AS t SET {sets} FROM json_to_recordset(%s::json) AS v({typed}) "  # noqa: S608
        f"WHERE t.{_q(pk)} = v.{_q(pk)} AND t.{token_column} = %s AND t.{status_column} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [payload, token, RUNNING])


def pending_ids(*, batch_id: int, after_id: int, limit: int) -> list[int]:
    """Due pending items of the batch, from after_id on (then from the start), for a task with idle threads."""
    now = timezone.now()
    due = BatchItem.objects.filter(batch_id=batch_id, status=PENDING).filter(
        Q(not_before__isnull=True) | Q(not_before__lte=now)
    )
    ids = list(due.filter(id__gt=after_id).order_by("id").values_list("id", flat=True)[:limit])
    return ids or list(due.order_by("id").values_list("id", flat=True)[:limit])
