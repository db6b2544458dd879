from django.apps import AppConfig


class PromptlibConfig(AppConfig):
    name = "promptlib"
    verbose_name = "Prompt library"
    default_auto_field = "django.db.models.BigAutoField"
