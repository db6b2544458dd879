"""Celery app built from Django settings (the CELERY_ namespace), as in Celery's Django docs."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("promptlib")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
