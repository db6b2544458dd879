from django.core.management.base import BaseCommand, CommandError

from promptlib.core.apikeys import ApiKeyError, api_key_create
from promptlib.core.models import Project


class Command(BaseCommand):
    help = "Create an API key for a project and print it. The full key is shown only this once."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Slug of the project the key acts for.")
        parser.add_argument(
            "--scopes", default="read", help="read, read,write or read,write,providers (each includes read)."
        )
        parser.add_argument("--name", default="", help="What the key is for, e.g. checkout-service.")

    def handle(self, *args, project, scopes, name, **options):
        found = Project.objects.filter(slug=project).first()
        if found is None:
            raise CommandError(f"No project with slug '{project}'.")
        try:
            api_key, raw = api_key_create(project=found, scopes=scopes, name=name)
        except ApiKeyError as exc:
            raise CommandError(f"{exc.field}: {exc.message}")
        self.stderr.write(f"Created key pl_{api_key.prefix}_… ({', '.join(api_key.scopes)}) for '{project}'.")
        self.stdout.write(raw)
