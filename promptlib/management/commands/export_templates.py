from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from promptlib.core.models import Project
from promptlib.prompts.store import display_path, templates_store_export


class Command(BaseCommand):
    help = (
        "Export a project's templates to one YAML file each (<slug>.yaml). A file holds the latest "
        "version's content and the labels pointing at it; history and version numbers stay in the "
        "database, so export, import into an empty project and export again give identical files. "
        "Labels on older versions are reported, not written. Existing files for other slugs are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", help="Directory to write into (default: templates_store/).")
        parser.add_argument("--project", required=True, help="Slug of the project to export.")

    def handle(self, *args, path=None, project, **options):
        target = Path(path) if path else Path(settings.BASE_DIR) / "templates_store"
        found = Project.objects.filter(slug=project).first()
        if found is None:
            raise CommandError(f"--project: there is no project '{project}'.")
        if target.exists() and not target.is_dir():
            raise CommandError(f"{display_path(target)}: is not a directory.")
        summary = templates_store_export(project=found, directory=target)
        for note in summary.notes:
            self.stderr.write(f"Note: {note}")
        self.stdout.write(
            f"Exported project '{project}' to {display_path(target)}: "
            f"{len(summary.written)} files written, {len(summary.unchanged)} unchanged."
        )
