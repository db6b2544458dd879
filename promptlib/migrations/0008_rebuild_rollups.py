"""Rollups are now read by the batch page, the API and run_batch too, with attempts counted as the batch
page always did (a cached or untried call counts as one try) and one review per answer. Rollups built
before hold the old sums: drop them, and they are rebuilt from the items when next read."""

from django.db import migrations


def drop_rollups(apps, schema_editor):
    apps.get_model("promptlib", "BatchRollup").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("promptlib", "0007_batchitem_indexes")]

    operations = [migrations.RunPython(drop_rollups, migrations.RunPython.noop)]
