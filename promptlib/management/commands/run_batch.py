"""python manage.py run_batch --experiment ID_or_name --dataset ID_or_name [--repeats N] [--wait] [--min-success 0.8]

Exit status: 0 success; 1 bad input; 2 the batch failed or was cancelled (or --timeout passed);
3 a variant's task success rate is below --min-success (each variant on its own, or only --variant).
"""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from promptlib.batches.models import Batch, Dataset
from promptlib.batches.selectors import batch_progress, batch_variant_metrics, ref_id
from promptlib.batches.services import (
    OPEN,
    BatchError,
    BatchSettings,
    batch_create,
    batch_run_inline,
    batch_start,
    batches_sweep,
)
from promptlib.experiments.models import Experiment
from promptlib.providers.models import ProviderConfig

SWEEP_EVERY_SECONDS = 10


def _find(model, value: str, project: str | None, label: str):
    rows = model.objects.all()
    if project:
        rows = rows.filter(project__slug=project)
    if "\x00" in value:
        raise CommandError(f"No {label} with a NUL character in its name.")
    pk = ref_id(value)
    found = rows.filter(pk=pk) if pk is not None else rows.filter(name=value)
    found = list(found[:2])
    if not found:
        raise CommandError(f"No {label} '{value}'{f' in project {project}' if project else ''}.")
    if len(found) > 1:
        raise CommandError(f"Several {label}s are named '{value}'; give --project or the id.")
    return found[0]


class Command(BaseCommand):
    help = "Create and start a batch for an experiment and a dataset; optionally wait and check the success rate."

    def add_arguments(self, parser):
        parser.add_argument("--experiment", required=True, help="Experiment id or name.")
        parser.add_argument("--dataset", required=True, help="Dataset id or name.")
        parser.add_argument("--project", help="Project slug, when names are ambiguous.")
        parser.add_argument("--provider", help="Provider name (default: each variant's own provider).")
        parser.add_argument("--model", default="", help="Model (default: each variant's own model).")
        parser.add_argument("--repeats", type=int, default=1)
        parser.add_argument("--tags", default="", help="Only cases with one of these comma-separated tags.")
        parser.add_argument("--cache", action="store_true", help="Reuse stored responses of identical calls.")
        parser.add_argument("--wait", action="store_true", help="Wait for the end, printing progress.")
        parser.add_argument("--inline", action="store_true", help="Run in this process instead of on workers.")
        parser.add_argument(
            "--min-success",
            type=float,
            help="Fail (exit 3) when a variant's task success rate is below this, 0–1 (each variant on its own).",
        )
        parser.add_argument("--variant", help="With --min-success: check only this variant (e.g. the challenger).")
        parser.add_argument("--timeout", type=float, default=3600, help="Seconds to wait at most (with --wait).")
        parser.add_argument("--interval", type=float, default=2.0, help="Seconds between progress lines.")

    def handle(self, *args, **opts):
        if opts["min_success"] is not None and not 0 <= opts["min_success"] <= 1:
            raise CommandError("--min-success must be between 0 and 1.")
        experiment = _find(Experiment, opts["experiment"], opts["project"], "experiment")
        if opts["variant"] and not experiment.variants.filter(key=opts["variant"]).exists():
            raise CommandError(f"variant: no variant '{opts['variant']}' in {experiment.name}.")
        dataset = _find(Dataset, opts["dataset"], experiment.project.slug, "dataset")
        provider = None
        if opts["provider"]:
            provider = _find(ProviderConfig, opts["provider"], experiment.project.slug, "provider")
        tags = [t.strip() for t in opts["tags"].split(",") if t.strip()]
        try:
            settings = BatchSettings(
                experiment=experiment, dataset=dataset, provider=provider, model=opts["model"],
                repeats=opts["repeats"], tags=tuple(tags), use_cache=opts["cache"],
            )  # fmt: skip
            batch = batch_create(settings=settings)
            batch = batch_run_inline(batch=batch) if opts["inline"] else batch_start(batch=batch)
        except BatchError as exc:
            raise CommandError(f"{exc.field or 'batch'}: {exc.message}") from exc
        self.stdout.write(f"Batch {batch.pk}: {batch.total} calls ({experiment.name} × {dataset.name}).")
        if opts["wait"] and not opts["inline"]:
            batch = self._wait(batch, timeout=opts["timeout"], interval=opts["interval"])
        if batch.status in OPEN:
            if opts["wait"]:
                self.stderr.write(f"Batch {batch.pk} did not finish within {opts['timeout']:g}s.")
                sys.exit(2)
            return
        variants = batch_variant_metrics(batch=batch)
        self._report(variants)
        if batch.status != Batch.Status.FINISHED:
            self.stderr.write(f"Batch {batch.pk} {batch.status}. {batch.error}".strip())
            sys.exit(2)
        if opts["min_success"] is not None:
            short = self._below(variants, minimum=opts["min_success"], only=opts["variant"])
            if short:
                self.stderr.write(f"Task success rate below {opts['min_success']:.1%}: {', '.join(short)}.")
                sys.exit(3)

    def _wait(self, batch: Batch, *, timeout: float, interval: float) -> Batch:
        deadline = time.monotonic() + timeout
        last_sweep = time.monotonic()
        while time.monotonic() < deadline:
            batch.refresh_from_db()
            p = batch_progress(batch=batch)
            eta = f", ETA {p['eta_seconds']}s" if p["eta_seconds"] is not None else ""
            if batch.status == Batch.Status.PREPARING:
                self.stdout.write(f"  preparing: {p['prepared']} of {p['total']} calls written")
            else:
                self.stdout.write(
                    f"  {p['status']}: {p['done']} done, {p['failed']} failed of {p['total']} "
                    f"({p['percent']}%, {p['calls_per_second']} calls/s{eta})"
                )
            if batch.status not in OPEN:
                return batch
            if time.monotonic() - last_sweep >= SWEEP_EVERY_SECONDS:
                batches_sweep()  # a watchdog too, should celery beat not be running
                last_sweep = time.monotonic()
            time.sleep(interval)
        batch.refresh_from_db()
        return batch

    def _below(self, variants: list[dict], *, minimum: float, only: str | None) -> list[str]:
        """The variants short of the minimum, each with its rate; pooling would let a good one hide a bad one."""
        short = []
        for row in variants:
            if only and row["variant"] != only:
                continue
            rate = row["metrics"]["task_success_rate"]
            if rate is None or rate < minimum:
                short.append(f"{row['variant']} {'unknown' if rate is None else f'{rate:.1%}'}")
        return short

    def _report(self, variants: list[dict]) -> None:
        for row in variants:
            m = row["metrics"]
            success = "n/a" if m["task_success_rate"] is None else f"{m['task_success_rate']:.1%}"
            p50 = "n/a" if m["latency_p50_ms"] is None else f"{m['latency_p50_ms']:.0f} ms"
            self.stdout.write(
                f"  {row['variant']} (v{row['version']}{', control' if row['is_control'] else ''}): "
                f"success {success}, latency p50 {p50}, {m['calls']} calls"
            )
