"""Provider API keys stored encrypted (promptlib/core/secrets.py), shown back only as a hint.

Existing providers keep `api_key_env`: those naming a variable the operator allows keep working;
the others are refused at call time and flagged in the provider admin with what to do.
"""

from django.db import migrations, models

import promptlib.providers.models


class Migration(migrations.Migration):
    dependencies = [
        ("promptlib", "0008_rebuild_rollups"),
    ]

    operations = [
        migrations.AlterField(
            model_name="providerconfig",
            name="api_key_env",
            field=models.CharField(
                blank=True,
                help_text="Or: the name of an environment variable the operator allows, e.g. OPENAI_API_KEY. "
                "Leave blank when the key is pasted above, for a local server or the demo.",
                max_length=100,
                validators=[promptlib.providers.models.validate_env_var_name],
            ),
        ),
        migrations.AddField(
            model_name="providerconfig",
            name="api_key_encrypted",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.AddField(
            model_name="providerconfig",
            name="api_key_hint",
            field=models.CharField(blank=True, editable=False, max_length=8),
        ),
    ]
