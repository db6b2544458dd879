"""Datasets belong to a template (or declare their variables) and are versioned: an import makes a new
version, and the cases of the earlier one stay, with the batches that ran on them, on a kept copy."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("promptlib", "0013_experiment_guardrail_margins"),
    ]

    operations = [
        migrations.AlterModelOptions(name="dataset", options={"ordering": ["project__name", "name", "-version"]}),
        migrations.RemoveConstraint(model_name="dataset", name="uniq_dataset_name_per_project"),
        migrations.AddField(
            model_name="dataset",
            name="template",
            field=models.ForeignKey(
                blank=True,
                help_text="The prompt these cases test: its variables become the columns of the file you import.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="datasets",
                to="promptlib.template",
            ),
        ),
        migrations.AddField(model_name="dataset", name="variables", field=models.JSONField(blank=True, default=list)),
        migrations.AddField(model_name="dataset", name="version", field=models.PositiveIntegerField(default=1)),
        migrations.AddField(
            model_name="dataset",
            name="version_of",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="earlier_versions",
                to="promptlib.dataset",
            ),
        ),
        migrations.AddConstraint(
            model_name="dataset",
            constraint=models.UniqueConstraint(
                condition=models.Q(version_of__isnull=True),
                fields=("project", "name"),
                name="uniq_dataset_name_per_project",
            ),
        ),
        migrations.AddConstraint(
            model_name="dataset",
            constraint=models.UniqueConstraint(fields=("version_of", "version"), name="uniq_dataset_version"),
        ),
    ]
