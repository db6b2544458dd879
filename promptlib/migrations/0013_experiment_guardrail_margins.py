from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("promptlib", "0012_exposures_metric_directions"),
    ]

    operations = [
        migrations.AddField(
            model_name="experiment",
            name="guardrail_margins",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
