import os

from django.core.management.base import BaseCommand, CommandError

from promptlib.batches.demo_setup import demo_project_setup
from promptlib.prompts.store import TemplateStoreError


class Command(BaseCommand):
    help = (
        "Set up the demo (safe to run again): import templates_store/ into project 'demo' and ensure a "
        "superuser 'admin' whose password comes from DEMO_ADMIN_PASSWORD or is generated once into "
        "var/demo-admin-password.txt. Prints the admin login."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default=None, help="Admin URL to print (default: http://127.0.0.1:$PORT/admin/, PORT=8000)."
        )

    def handle(self, *args, url, **options):
        url = url or admin_url(os.environ.get("PORT", ""))
        try:
            demo = demo_project_setup()
        except TemplateStoreError as exc:
            raise CommandError(f"Demo setup failed; nothing was imported.\n{exc}")
        self.stdout.write(f"Demo project '{demo.project.slug}': {demo.templates}.")
        self.stdout.write(
            self.style.SUCCESS(f"Log in at {url}\n  username: {demo.username}\n  password: {demo.password}")
        )


def admin_url(port: str) -> str:
    """The local admin URL for the port `make run` serves on (its PORT variable)."""
    port = port.strip() or "8000"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise CommandError(f"PORT must be a port number from 1 to 65535, not {port!r}.")
    return f"http://127.0.0.1:{int(port)}/admin/"
