from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from promptlib.core.models import Project
from promptlib.knowledge.store import knowledge_store_export
from promptlib.prompts.store import display_path


class Command(BaseCommand):
    help = (
        "Export a project's knowledge bases to one directory each (<name>/knowledge.yaml and the current "
        "documents as uploaded). Snapshot history stays in the database, so export, import and export again "
        "give identical files. Document files no longer in the knowledge base are deleted from its directory."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", help="Directory to write into (default: templates_store/knowledge/).")
        parser.add_argument("--project", required=True, help="Slug of the project to export.")

    def handle(self, *args, path=None, project, **options):
        target = Path(path) if path else Path(settings.BASE_DIR) / "templates_store" / "knowledge"
        found = Project.objects.filter(slug=project).first()
        if found is None:
            raise CommandError(f"--project: there is no project '{project}'.")
        if target.exists() and not target.is_dir():
            raise CommandError(f"{display_path(target)}: is not a directory.")
        summary = knowledge_store_export(project=found, directory=target)
        self.stdout.write(
            f"Exported project '{project}' to {display_path(target)}: {len(summary.written)} files written, "
            f"{len(summary.unchanged)} unchanged, {len(summary.removed)} removed."
        )
