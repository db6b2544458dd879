"""How each OpenAI-compatible provider is asked for JSON: json_schema (as before, the default),
json_object with the schema (llama-cpp-python), or none (the prompt alone asks for JSON)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("promptlib", "0009_provider_secrets"),
    ]

    operations = [
        migrations.AddField(
            model_name="providerconfig",
            name="structured_output",
            field=models.CharField(
                choices=[
                    ("json_schema", "JSON schema (OpenAI, vLLM, llama.cpp's llama-server, recent Ollama)"),
                    ("json_object", "JSON object plus the schema (llama-cpp-python)"),
                    ("none", "None: ask for JSON in the prompt only"),
                ],
                default="json_schema",
                help_text="How this server is asked for a JSON answer when a prompt version has an output schema. Keep the first choice unless calls fail with a message about response_format; then try the second, or the third for servers that take neither (the prompt still asks for JSON). Anthropic ignores this setting: it has its own way.",
                max_length=20,
            ),
        ),
    ]
