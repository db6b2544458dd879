from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from promptlib.prompts.store import TemplateStoreError, display_path, templates_store_import


class Command(BaseCommand):
    help = (
        "Import template files (templates_store/*.yaml) into a project, creating it if missing. "
        "Each file holds one template's current content and the labels that should point at it; "
        "unchanged files create nothing, a changed file creates one new version. All files are "
        "checked first and imported in one transaction: one bad file means nothing is imported."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "path", nargs="?", help="A directory of .yaml files or one file (default: templates_store/)."
        )
        parser.add_argument("--project", required=True, help="Slug of the project to import into.")
        parser.add_argument("--project-name", default="", help="Name for the project if it is created.")

    def handle(self, *args, path=None, project, project_name, **options):
        source = Path(path) if path else Path(settings.BASE_DIR) / "templates_store"
        try:
            summary = templates_store_import(path=source, project_slug=project, project_name=project_name)
        except TemplateStoreError as exc:
            raise CommandError(f"Nothing was imported.\n{exc}")
        created = " (created)" if summary.project_created else ""
        self.stdout.write(f"Imported {display_path(source)} into project '{project}'{created}: {summary}.")
