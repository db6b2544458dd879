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


def variant_table(rows: list[dict]) -> dict:
    """{headers, rows} for the batch page from batch_variant_metrics()."""
    infos = [METRICS[name] for name in BATCH_COLUMNS]
    return {
        "headers": [info.label for info in infos],
        "rows": [
            {
                "variant": f"{row['variant']} (version {row['version']})",
                "is_control": row["is_control"],
                "calls": row["metrics"].get("calls", 0),
                "cells": [metric_text(info, row["metrics"].get(info.name)) for info in infos],
            }
            for row in rows
        ],
    }


def batch_title(batch: Batch) -> str:
    """ "Batch 7 — Shorter intro, on support-tickets": which test run this is, in words."""
    return f"Batch {batch.pk} — {batch.experiment.name}, on {batch.dataset.name}"
