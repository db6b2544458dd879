import re

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db import models as django_models  # see ProviderConfig.models

from promptlib.providers.registry import is_local_url

ENV_VAR_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def validate_env_var_name(value: str) -> None:
    if value and not ENV_VAR_NAME.match(value):
        raise ValidationError(
            "Enter the NAME of an environment variable (capitals, digits, underscores, e.g. OPENAI_API_KEY), "
            "never the key itself."
        )


class ProviderConfig(models.Model):
    """How to reach one LLM provider: an endpoint, its models and its limits.

    The API key is never stored: `api_key_env` names the environment variable that holds it on the
    workers, read at call time.
    """

    project_path = "project"  # ORM path to the owning Project, used for scoping

    class Kind(models.TextChoices):
        OPENAI = "openai", "OpenAI or OpenAI-compatible (Ollama, vLLM…)"
        ANTHROPIC = "anthropic", "Anthropic"
        DEMO = "demo", "Offline demo — not a real model"

    project = models.ForeignKey("promptlib.Project", on_delete=models.CASCADE, related_name="provider_configs")
    name = models.SlugField(max_length=80, help_text="A short name used by templates and batches, e.g. openai.")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.OPENAI)
    base_url = models.URLField(blank=True, help_text="Leave blank for the provider's own endpoint.")
    # This field's name shadows the `models` module for the rest of the class body: the fields
    # below use the `django_models` alias.
    models = django_models.JSONField(default=list, blank=True, help_text='Model names offered, e.g. ["gpt-4o-mini"].')
    api_key_env = django_models.CharField(
        max_length=100,
        blank=True,
        validators=[validate_env_var_name],
        help_text="Name of the environment variable holding the API key, e.g. OPENAI_API_KEY. "
        "May be blank only for a local server or the demo.",
    )
    timeout_seconds = django_models.FloatField(default=60, validators=[MinValueValidator(0.1)])
    max_concurrency = django_models.PositiveIntegerField(
        default=4, validators=[MinValueValidator(1)], help_text="Calls in flight at once, across all workers."
    )
    rpm_limit = django_models.PositiveIntegerField(
        default=0, help_text="Requests per minute across all workers; 0 = no limit."
    )
    max_retries = django_models.PositiveIntegerField(
        default=4, help_text="Retries of temporary errors (429, 5xx, timeouts)."
    )
    created_at = django_models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project__name", "name"]
        constraints = [
            django_models.UniqueConstraint(fields=["project", "name"], name="uniq_provider_name_per_project")
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if not isinstance(self.models, list) or not all(isinstance(m, str) and m.strip() for m in self.models):
            errors["models"] = 'Enter a JSON list of model names, e.g. ["gpt-4o-mini"].'
        if not self.api_key_env and self.kind != self.Kind.DEMO and not is_local_url(self.base_url):
            errors["api_key_env"] = "Name the environment variable holding the API key; only local servers need none."
        if errors:
            raise ValidationError(errors)


class ModelPrice(models.Model):
    """A per-model price (USD per million tokens) that overrides the built-in price list.

    For models genai-prices does not know (self-hosted ones cost nothing unless priced here).
    """

    project_path = "provider__project"  # ORM path to the owning Project, used for scoping

    provider = models.ForeignKey(ProviderConfig, on_delete=models.CASCADE, related_name="prices")
    model = models.CharField(max_length=200)
    input_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=6, validators=[MinValueValidator(0)], help_text="USD per million input tokens."
    )
    output_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=6, validators=[MinValueValidator(0)], help_text="USD per million output tokens."
    )

    class Meta:
        ordering = ["provider", "model"]
        constraints = [models.UniqueConstraint(fields=["provider", "model"], name="uniq_price_per_provider_model")]

    def __str__(self) -> str:
        return f"{self.model}: ${self.input_per_mtok}/${self.output_per_mtok} per Mtok"
