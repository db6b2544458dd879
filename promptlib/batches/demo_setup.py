"""The demo a newcomer gets from `make run`: a project with the shipped templates and an admin login.

Every step is idempotent, so `demo_setup` can run on each start. Add further demo data (datasets,
providers, experiments) as more steps in demo_project_setup().
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from promptlib.core.models import Project
from promptlib.knowledge.store import knowledge_store_import
from promptlib.prompts.store import ImportSummary, templates_store_import
from promptlib.prompts.store.importing import KNOWLEDGE_DIR

DEMO_PROJECT_SLUG = "demo"
DEMO_PROJECT_NAME = "Demo"
DEMO_ADMIN_USERNAME = "admin"
PASSWORD_ENV = "DEMO_ADMIN_PASSWORD"  # noqa: S105 - a variable name, not a secret
PASSWORD_FILE = "demo-admin-password.txt"  # noqa: S105 - a file name, not a secret


@dataclass(frozen=True)
class DemoSetup:
    project: Project
    username: str
    password: str
    templates: ImportSummary


def demo_admin_password() -> str:
    """DEMO_ADMIN_PASSWORD if set; otherwise a random password made once and kept in VAR_DIR."""
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    path = Path(settings.VAR_DIR) / PASSWORD_FILE
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    # Owner-only: the file holds a superuser's password.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    return password


def demo_admin_ensure(*, password: str):
    """A superuser 'admin' whose password is the one printed, whatever state a previous run left."""
    user, _ = get_user_model().objects.get_or_create(username=DEMO_ADMIN_USERNAME)
    if not (user.is_superuser and user.is_staff and user.is_active and user.check_password(password)):
        user.is_superuser = user.is_staff = user.is_active = True
        user.set_password(password)
        user.save()
    return user


def demo_project_setup(*, store_path: Path | None = None) -> DemoSetup:
    store_path = store_path or Path(settings.BASE_DIR) / "templates_store"
    password = demo_admin_password()
    with transaction.atomic():
        user = demo_admin_ensure(password=password)
        # Knowledge bases on every run: a changed document in templates_store/knowledge/ is published.
        project, _ = Project.objects.get_or_create(slug=DEMO_PROJECT_SLUG, defaults={"name": DEMO_PROJECT_NAME})
        if (store_path / KNOWLEDGE_DIR).is_dir():
            knowledge_store_import(path=store_path / KNOWLEDGE_DIR, project=project, actor=user)
        existing = Project.objects.filter(slug=DEMO_PROJECT_SLUG, templates__isnull=False).distinct().first()
        if existing is not None:
            # Imported on the first run only: the demo then adds a challenger version, and re-importing the
            # file would make the file's content the latest version again (and move its labels).
            templates = ImportSummary(project=existing, unchanged=existing.templates.count())
        else:
            templates = templates_store_import(
                path=store_path, project_slug=DEMO_PROJECT_SLUG, project_name=DEMO_PROJECT_NAME, actor=user
            )
    # Demo provider, datasets, a two-variant triage experiment and one offline batch.
    from promptlib.batches.demo import demo_batches_setup

    demo_batches_setup(project=templates.project, user=user, store_path=store_path)
    return DemoSetup(project=templates.project, username=user.username, password=password, templates=templates)
