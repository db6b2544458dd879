from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("promptlib", "0010_provider_structured_output"),
    ]

    operations = [
        migrations.AddField(
            model_name="experiment",
            name="guardrail_margins",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
