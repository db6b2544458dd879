from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from promptlib.core.models import Project
from promptlib.knowledge.store import KnowledgeStoreError, knowledge_store_import
from promptlib.prompts.store import display_path


class Command(BaseCommand):
    help = (
        "Import knowledge bases (templates_store/knowledge/<name>/: knowledge.yaml and the documents) into a "
        "project, and publish each (a new snapshot only when its passages changed). Every file is read and "
        "checked first and all is imported in one transaction: one bad file means nothing is imported."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", help="A knowledge directory, or a directory of them "
                            "(default: templates_store/knowledge/).")  # fmt: skip
        parser.add_argument("--project", required=True, help="Slug of the project to import into.")
        parser.add_argument("--no-publish", action="store_true", help="Update the documents, publish nothing.")

    def handle(self, *args, path=None, project, no_publish=False, **options):
        source = Path(path) if path else Path(settings.BASE_DIR) / "templates_store" / "knowledge"
        found = Project.objects.filter(slug=project).first()
        if found is None:
            raise CommandError(f"--project: there is no project '{project}'.")
        try:
            summary = knowledge_store_import(path=source, project=found, publish=not no_publish)
        except KnowledgeStoreError as exc:
            raise CommandError(f"Nothing was imported.\n{exc}")
        self.stdout.write(f"Imported {display_path(source)} into project '{project}': {summary}.")
