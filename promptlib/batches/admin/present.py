"""What the batch page shows: plain titles and the per-variant table with readable numbers."""

from __future__ import annotations

from promptlib.admin.display import metric_value_text
from promptlib.batches.models import Batch
from promptlib.experiments.metrics import METRICS, MetricInfo

# The batch page's columns, in the order a marketer reads them (labels come from METRICS).
BATCH_COLUMNS = (
    "task_success_rate",
    "schema_pass_rate",
    "retry_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "cost_per_success_usd",
    "review_seconds_median",
)


def metric_text(info: MetricInfo, value: float | None) -> str:
    return metric_value_text(value, is_rate=info.kind == "rate", unit=info.unit)


UNREAD_LABEL = "AI grader replies not read"  # no verdict: neither a pass nor a fail, left out of task success


def variant_table(rows: list[dict], *, judged: bool = False) -> dict:
    """{headers, rows} for the batch page from batch_variant_metrics(); judged: the experiment has an AI
    grader, so a last column counts the answers whose grader reply could not be read."""
    infos = [METRICS[name] for name in BATCH_COLUMNS]

    def cells(metrics: dict) -> list[str]:
        shown = [metric_text(info, metrics.get(info.name)) for info in infos]
        return [*shown, f"{metrics.get('judge_unread', 0):,}"] if judged else shown

    return {
        "headers": [info.label for info in infos] + ([UNREAD_LABEL] if judged else []),
        "rows": [
            {
                "variant": f"{row['variant']} (version {row['version']})",
                "is_control": row["is_control"],
                "calls": row["metrics"].get("calls", 0),
                "cells": cells(row["metrics"]),
            }
            for row in rows
        ],
    }


def time_left_text(seconds: int | None) -> str:
    """ "about 1 second left", "about 4 minutes left"…, or that nobody can tell yet."""
    if seconds is None:
        return "time left not known yet"
    for size, unit in ((3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size or unit == "second":
            count = max(1, round(seconds / size))
            return f"about {count} {unit}{'' if count == 1 else 's'} left"
    return ""


def progress_for_page(progress: dict) -> dict:
    """The batch's progress with what the page says in words (the time left)."""
    return {**progress, "time_left": time_left_text(progress.get("eta_seconds"))}


def batch_title(batch: Batch) -> str:
    """ "Batch 7 — Shorter intro, on support-tickets": which test run this is, in words."""
    return f"Batch {batch.pk} — {batch.experiment.name}, on {batch.dataset.name}"


# What a person can do about each kind of failed call, shown under the error on the answer's page.
ERROR_HINTS = {
    "auth": "Check the provider's API key under Settings › AI providers.",
    "connection": "The provider's address could not be reached: check its base URL, and that the server "
    "(e.g. Ollama on this machine) is running.",
    "timeout": "The provider took too long: raise its timeout, or try a smaller model or fewer tokens.",
    "rate_limit": "The provider asked to slow down: lower its concurrency or requests per minute, then re-run "
    "the failed calls.",
    "server": "The provider had a problem of its own: re-run the failed calls later.",
    "not_found": "The provider does not know this model or address: check the version's model name.",
    "bad_request": "The provider refused the request: check the version's model settings (e.g. max tokens).",
    "refusal": "The model declined to answer this case: read the case, or adjust the prompt's wording.",
    "refused": "This server's outbound policy blocks the provider's address: ask whoever runs promptlib.",
    "render": "The prompt could not be filled from this test case: check the case has every value the "
    "template's variables require.",
    "internal": "Something went wrong inside promptlib: re-run the failed calls; if it happens again, report it.",
}
