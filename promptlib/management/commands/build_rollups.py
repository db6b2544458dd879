"""Build the rollups of finished batches that have none or stale ones: after upgrading, or --rebuild."""

from django.core.management.base import BaseCommand, CommandError

from promptlib.batches.models import Batch
from promptlib.batches.rollups import batch_rollups_ready

CHUNK = 100  # batches per progress line


class Command(BaseCommand):
    help = "Build missing or stale rollups of finished batches (reports otherwise build them on first view)."

    def add_arguments(self, parser):
        parser.add_argument("--experiment", type=int, help="Only the batches of this experiment id.")
        parser.add_argument("--rebuild", action="store_true", help="Rebuild current rollups too.")

    def handle(self, *args, experiment=None, rebuild=False, **options):
        batches = Batch.objects.filter(status=Batch.Status.FINISHED).order_by("pk")
        if experiment is not None:
            batches = batches.filter(experiment_id=experiment)
        ids = list(batches.values_list("pk", flat=True))
        ready: set[int] = set()
        for start in range(0, len(ids), CHUNK):
            ready |= batch_rollups_ready(batch_ids=ids[start : start + CHUNK], rebuild=rebuild)
            self.stdout.write(f"{min(start + CHUNK, len(ids))} of {len(ids)} finished batches checked.")
        if len(ready) < len(ids):
            raise CommandError(f"{len(ids) - len(ready)} batches could not be rolled up; see the log.")
        self.stdout.write(self.style.SUCCESS(f"Rollups are current for all {len(ids)} finished batches."))
