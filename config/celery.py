"""Celery app built from Django settings (the CELERY_ namespace), as in Celery's Django docs."""

import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("promptlib")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _ensure_filesystem_broker_folders() -> None:
    # kombu's filesystem transport (the embedded default) fails on folders that do not exist yet.
    if not str(app.conf.broker_url).startswith("filesystem://"):
        return
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)


_ensure_filesystem_broker_folders()


@worker_init.connect
def _preload_provider_sdks(**_kwargs):
    # Importing the SDKs takes seconds; do it once in the parent so forked pool processes inherit them.
    import importlib

    for module in ("promptlib.providers.openai", "promptlib.providers.anthropic"):
        importlib.import_module(module)
