import re

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db import models as django_models  # see ProviderConfig.models

from promptlib.core.errors import DomainError
from promptlib.core.secrets import secret_encrypt, secret_hint
from promptlib.providers.policy import config_check, is_loopback_url

ENV_VAR_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def validate_env_var_name(value: str) -> None:
    if value and not ENV_VAR_NAME.match(value):
        raise ValidationError(
            "Enter the NAME of an environment variable (capitals, digits, underscores, e.g. OPENAI_API_KEY), "
            "never the key itself."
        )


class ProviderConfig(models.Model):
    """How to reach one LLM provider: an endpoint, its models and its limits.

    The API key is stored encrypted (`api_key_encrypted`, a Fernet token: promptlib/core/secrets.py)
    and shown back only as its hint ("…abcd"). Or `api_key_env` names an environment variable the
    operator allows (promptlib/providers/policy.py), read on the workers at call time.
    """

    project_path = "project"  # ORM path to the owning Project, used for scoping

    class Kind(models.TextChoices):
        OPENAI = "openai", "OpenAI or OpenAI-compatible (Ollama, vLLM…)"
        ANTHROPIC = "anthropic", "Anthropic"
        DEMO = "demo", "Offline demo — not a real model"

    class StructuredOutput(models.TextChoices):
        """How an OpenAI-compatible server is asked for JSON when a version has an output schema."""

        JSON_SCHEMA = "json_schema", "JSON schema (OpenAI, vLLM, llama.cpp's llama-server, recent Ollama)"
        JSON_OBJECT = "json_object", "JSON object plus the schema (llama-cpp-python)"
        NONE = "none", "None: ask for JSON in the prompt only"

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
        help_text="Or: the name of an environment variable the operator allows, e.g. OPENAI_API_KEY. "
        "Leave blank when the key is pasted above, for a local server or the demo.",
    )
    # Write-only: set with api_key_store(), never shown; the hint is what pages and the API show.
    api_key_encrypted = django_models.TextField(blank=True, editable=False)
    api_key_hint = django_models.CharField(max_length=8, blank=True, editable=False)
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
    structured_output = django_models.CharField(
        max_length=20,
        choices=StructuredOutput.choices,
        default=StructuredOutput.JSON_SCHEMA,
        help_text="How this server is asked for a JSON answer when a prompt version has an output schema. "
        "Keep the first choice unless calls fail with a message about response_format; then try the "
        "second, or the third for servers that take neither (the prompt still asks for JSON). "
        "Anthropic ignores this setting: it has its own way.",
    )
    created_at = django_models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project__name", "name"]
        constraints = [
            django_models.UniqueConstraint(fields=["project", "name"], name="uniq_provider_name_per_project")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def api_key_is_set(self) -> bool:
        return bool(self.api_key_encrypted)

    def api_key_store(self, plain: str | None) -> None:
        """Keep `plain` encrypted (None or "": forget the stored key). Saved with the row."""
        self.api_key_encrypted = secret_encrypt(plain) if plain else ""
        self.api_key_hint = secret_hint(plain) if plain else ""

    def clean(self) -> None:
        errors = {}
        if not isinstance(self.models, list) or not all(isinstance(m, str) and m.strip() for m in self.models):
            errors["models"] = 'Enter a JSON list of model names, e.g. ["gpt-4o-mini"].'
        if (
            self.kind != self.Kind.DEMO
            and not (self.api_key_encrypted or self.api_key_env)
            and not is_loopback_url(self.base_url)
        ):
            errors["api_key_env"] = (
                "Paste the API key (or name an allowed environment variable holding it); only local servers need none."
            )
        try:
            config_check(self)
        except DomainError as exc:
            errors.setdefault(exc.field, exc.message)
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
