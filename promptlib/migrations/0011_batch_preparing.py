"""Batches of any size: a `preparing` state whose items a task writes (with progress), and the
attempts of an item kept across re-runs (rerun_from: where the current run's retry budget starts).
Batch items lose their database foreign-key constraints (Django still cascades deletes): the per-row
checks took most of the time of writing a big batch (promptlib/batches/models.py says why).

The sweeper no longer runs as a beat-scheduled task (promptlib/batches/sweeper.py): its periodic
task row, which django-celery-beat created from the old CELERY_BEAT_SCHEDULE, is removed.
"""

import django.db.models.deletion
from django.db import migrations, models


def remove_sweep_periodic_task(apps, schema_editor):
    try:
        periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    except LookupError:  # django-celery-beat's tables do not exist yet: nothing to remove
        return
    periodic_task.objects.filter(name="promptlib-batches-sweep").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("promptlib", "0010_provider_structured_output"),
    ]

    operations = [
        migrations.AddField(
            model_name="batch",
            name="prepared",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="batch",
            name="start_when_prepared",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="batch",
            name="variant_ids",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="batchitem",
            name="rerun_from",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="batch",
            name="status",
            field=models.CharField(
                choices=[
                    ("preparing", "Preparing"),
                    ("pending", "Pending"),
                    ("running", "Running"),
                    ("finished", "Finished"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled"),
                ],
                db_index=True,
                default="pending",
                max_length=10,
            ),
        ),
        migrations.AlterField(
            model_name="batchitem",
            name="batch",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="items",
                to="promptlib.batch",
            ),
        ),
        migrations.AlterField(
            model_name="batchitem",
            name="case",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="promptlib.datasetcase",
            ),
        ),
        migrations.AlterField(
            model_name="batchitem",
            name="variant",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="promptlib.variant",
            ),
        ),
        migrations.RunPython(remove_sweep_periodic_task, migrations.RunPython.noop),
    ]
