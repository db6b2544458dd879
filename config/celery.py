"""Celery app built from Django settings (the CELERY_ namespace), as in Celery's Django docs."""

import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("promptlib")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _preload_provider_sdks(**_kwargs):
    # Importing the SDKs takes seconds; do it once in the parent so forked pool processes inherit them.
    import importlib

    for module in ("promptlib.providers.openai", "promptlib.providers.anthropic"):
        importlib.import_module(module)
