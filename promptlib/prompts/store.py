"""Prompts as code: templates_store/ YAML files ⇄ a project's templates.

A file holds one template's CURRENT content (its latest version) and the names of the labels that
point at that content. Version numbers and history stay in the database: numbers differ between
environments, so writing them down would make export → import → export differ. Labels pointing at
older versions are environment state (a rollback, a canary); export reports them and leaves them out.
Import never removes a label: a file only says which labels should serve its content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction

from promptlib.core.caching import template_cache_invalidate
from promptlib.core.models import Project
from promptlib.prompts.content import SECTIONS, VersionContent
from promptlib.prompts.models import Label, Template
from promptlib.prompts.rendering import VARIABLE_TYPES, PromptErrors, validate_content
from promptlib.prompts.services import LabelError, label_move, template_create, version_create

SLUG_RE = re.compile(r"[-a-zA-Z0-9_]+")
MODEL_KEYS = ("provider", "model", "temperature", "max_tokens", "output_schema")
VARIABLE_KEYS = ("name", "type", "required", "default", "description")
EXAMPLE_KEYS = ("input", "output")
# The order keys are written in: who it is, how it runs, what it takes, what it says.
TOP_KEYS = ("slug", "title", "description", "tags", "labels", "model_settings", "variables", *SECTIONS, "examples")
FILE_SUFFIXES = (".yaml", ".yml")


# --- errors and values -----------------------------------------------------------------------


@dataclass(frozen=True)
class StoreProblem:
    path: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}" if self.field else f"{self.path}: {self.message}"


class TemplateStoreError(Exception):
    """One or more files are unusable; nothing was imported."""

    def __init__(self, problems: list[StoreProblem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class TemplateFile:
    path: str
    slug: str
    title: str
    description: str
    tags: list[str]
    labels: list[str]
    content: VersionContent


@dataclass
class ImportSummary:
    project: Project | None = None
    project_created: bool = False
    templates_created: int = 0
    templates_updated: int = 0
    versions_created: int = 0
    labels_moved: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return (
            f"{self.templates_created} templates created, {self.templates_updated} updated, "
            f"{self.versions_created} new versions, {self.labels_moved} labels moved, {self.unchanged} unchanged"
        )


@dataclass
class ExportSummary:
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _clean(text: str) -> str:
    # The same normalisation VersionContent applies, so files and database compare equal.
    return (text or "").replace("\r\n", "\n").strip()


def display_path(path: Path) -> str:
    """A path as the user typed it: relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# --- reading files ---------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str):
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


def _json_problem(value: Any) -> str:
    if value is None or isinstance(value, str | bool | int | float):
        return ""
    if isinstance(value, list):
        return next((p for p in map(_json_problem, value) if p), "")
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return "object keys must be strings"
        return next((p for p in map(_json_problem, value.values()) if p), "")
    return f"{type(value).__name__} values are not allowed (quote it to make it a string)"


class _Reader:
    """Checks the structure of one parsed file, collecting every problem with its field."""

    def __init__(self, path: str):
        self.path = path
        self.problems: list[StoreProblem] = []

    def bad(self, where: str, message: str) -> None:
        self.problems.append(StoreProblem(self.path, where, message))

    def mapping(self, value: Any, where: str, keys: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
        if not isinstance(value, dict):
            self.bad(where, f"must be a mapping, got {_kind(value)}")
            return {}
        for key in value:
            if key not in keys:
                self.bad(f"{where}.{key}" if where else str(key), f"unknown key; allowed: {', '.join(keys)}")
        for key in required:
            if key not in value:
                self.bad(f"{where}.{key}" if where else key, "is required")
        return value

    def items(self, raw: Any, where: str, keys: tuple[str, ...], required: tuple[str, ...]) -> list[tuple[str, dict]]:
        """A list of mappings, each with the field name it is reported under (e.g. variables[1])."""
        if not isinstance(raw, list):
            self.bad(where, f"must be a list, got {_kind(raw)}")
            return []
        fields = [f"{where}[{index}]" for index in range(len(raw))]
        return [(name, self.mapping(item, name, keys, required)) for name, item in zip(fields, raw, strict=True)]

    def text(self, data: dict, key: str, where: str) -> str:
        value = data.get(key, "")
        if not isinstance(value, str):
            self.bad(where, f"must be a string, got {_kind(value)}")
            return ""
        return _clean(value)

    def slug(self, data: dict, key: str, where: str, max_length: int) -> str:
        value = self.text(data, key, where)
        if value and (not SLUG_RE.fullmatch(value) or len(value) > max_length):
            self.bad(where, f"{value!r} is not a slug (letters, digits, '-' and '_', at most {max_length})")
        return value

    def strings(self, data: dict, key: str, where: str) -> list[str]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.bad(where, "must be a list of strings")
            return []
        if len(set(value)) != len(value):
            self.bad(where, "lists the same value twice")
        return value

    def number(self, data: dict, key: str, where: str, *, integer: bool) -> float | int | None:
        value = data.get(key)
        kinds = (int,) if integer else (int, float)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, kinds) or value < 0:
            self.bad(where, f"must be a non-negative {'integer' if integer else 'number'}, got {value!r}")
            return None
        return value

    def json(self, value: Any, where: str) -> Any:
        problem = _json_problem(value)
        if problem:
            self.bad(where, problem)
        return value


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _variables(reader: _Reader, raw: Any) -> list[dict[str, Any]]:
    variables = []
    for where, item in reader.items(raw, "variables", VARIABLE_KEYS, required=("name",)):
        kind = item.get("type", "string")
        if not isinstance(kind, str) or kind not in VARIABLE_TYPES:
            reader.bad(f"{where}.type", f"unknown type {kind!r}; use one of {', '.join(VARIABLE_TYPES)}")
        required = item.get("required", False)
        if not isinstance(required, bool):
            reader.bad(f"{where}.required", f"must be true or false, got {required!r}")
        variables.append(
            {
                "name": reader.text(item, "name", f"{where}.name"),
                "type": kind,
                "required": required,
                "default": reader.json(item.get("default"), f"{where}.default"),
                "description": reader.text(item, "description", f"{where}.description"),
            }
        )
    return variables


def _examples(reader: _Reader, raw: Any) -> list[dict[str, str]]:
    return [
        {key: reader.text(item, key, f"{where}.{key}") for key in EXAMPLE_KEYS}
        for where, item in reader.items(raw, "examples", EXAMPLE_KEYS, required=EXAMPLE_KEYS)
    ]


def template_file_parse(*, path: str, text: str) -> TemplateFile:
    """Parse and check one file's text; raise TemplateStoreError listing every problem found."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}" if mark else ""
        raise TemplateStoreError([StoreProblem(path, where, f"invalid YAML: {exc.problem or exc.context}")])
    except yaml.YAMLError as exc:
        raise TemplateStoreError([StoreProblem(path, "", f"invalid YAML: {exc}")])
    reader = _Reader(path)
    if not isinstance(data, dict):
        raise TemplateStoreError([StoreProblem(path, "", f"must be a mapping of template fields, got {_kind(data)}")])
    reader.mapping(data, "", TOP_KEYS, required=("slug", "title"))
    slug = reader.slug(data, "slug", "slug", 120)
    title = reader.text(data, "title", "title")
    if "title" in data and not title:
        reader.bad("title", "must not be empty")
    if slug and Path(path).stem != slug:
        reader.bad("slug", f"{slug!r} does not match the file name; name the file {slug}.yaml")
    labels = reader.strings(data, "labels", "labels")
    for index, name in enumerate(labels):
        if not SLUG_RE.fullmatch(name) or len(name) > 60:
            reader.bad(f"labels[{index}]", f"{name!r} is not a label name (letters, digits, '-' and '_')")
    settings = reader.mapping(data.get("model_settings", {}), "model_settings", MODEL_KEYS)
    description = reader.text(data, "description", "description")
    tags = reader.strings(data, "tags", "tags")
    content = VersionContent(
        **{name: reader.text(data, name, name) for name in SECTIONS},
        examples=_examples(reader, data.get("examples", [])),
        variables=_variables(reader, data.get("variables", [])),
        provider=reader.text(settings, "provider", "model_settings.provider"),
        model=reader.text(settings, "model", "model_settings.model"),
        temperature=reader.number(settings, "temperature", "model_settings.temperature", integer=False),
        max_tokens=reader.number(settings, "max_tokens", "model_settings.max_tokens", integer=True),
        output_schema=reader.json(settings.get("output_schema"), "model_settings.output_schema"),
    ).normalized()
    if not reader.problems:
        try:
            validate_content(content)
        except PromptErrors as exc:
            for error in exc.errors:
                reader.bad(error.field, error.message)
    if reader.problems:
        raise TemplateStoreError(reader.problems)
    return TemplateFile(
        path=path,
        slug=slug,
        title=title,
        description=description,
        tags=tags,
        labels=labels,
        content=content,
    )


def template_files_read(*, path: Path) -> list[TemplateFile]:
    """Read every template file in a directory (or one file); raise TemplateStoreError listing all problems."""
    if path.is_dir():
        paths = sorted(p for p in path.iterdir() if p.suffix in FILE_SUFFIXES and p.is_file())
        if not paths:
            raise TemplateStoreError([StoreProblem(display_path(path), "", "contains no .yaml template files")])
    elif path.is_file():
        paths = [path]
    else:
        raise TemplateStoreError([StoreProblem(display_path(path), "", "no such file or directory")])
    files: list[TemplateFile] = []
    problems: list[StoreProblem] = []
    seen: dict[str, str] = {}
    for file_path in paths:
        shown = display_path(file_path)
        try:
            parsed = template_file_parse(path=shown, text=file_path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            problems.append(StoreProblem(shown, "", "is not valid UTF-8 text"))
            continue
        except TemplateStoreError as exc:
            problems.extend(exc.problems)
            continue
        if parsed.slug in seen:
            problems.append(StoreProblem(shown, "slug", f"{parsed.slug!r} is also used by {seen[parsed.slug]}"))
        seen[parsed.slug] = shown
        files.append(parsed)
    if problems:
        raise TemplateStoreError(problems)
    return files


# --- import ----------------------------------------------------------------------------------


def _template_sync(*, project: Project, file: TemplateFile, summary: ImportSummary) -> tuple[Template, bool]:
    template = Template.objects.filter(project=project, slug=file.slug).first()
    if template is None:
        summary.templates_created += 1
        template = template_create(
            project=project, slug=file.slug, title=file.title, description=file.description, tags=file.tags
        )
        return template, True
    wanted = (file.title, file.description, file.tags)
    if (template.title, _clean(template.description), template.tags) == wanted:
        return template, False
    template.title, template.description, template.tags = wanted
    template.save(update_fields=["title", "description", "tags", "updated_at"])
    template_cache_invalidate(project_id=project.pk, slug=template.slug)
    summary.templates_updated += 1
    return template, True


def templates_import(
    *, project_slug: str, files: list[TemplateFile], project_name: str = "", actor=None
) -> ImportSummary:
    """Bring a project's templates in line with parsed files, in one transaction.

    Unchanged files create nothing; a changed file creates exactly one version, and the labels it
    lists move to that version (recorded with via="import"). The project is created if missing.
    """
    if not SLUG_RE.fullmatch(project_slug or "") or len(project_slug) > 80:
        raise TemplateStoreError([StoreProblem("--project", "", f"{project_slug!r} is not a project slug")])
    summary = ImportSummary()
    with transaction.atomic():
        name = project_name or project_slug.replace("-", " ").replace("_", " ").title()
        summary.project, summary.project_created = Project.objects.get_or_create(
            slug=project_slug, defaults={"name": name}
        )
        for file in files:
            note = f"Imported from {file.path}"
            template, changed = _template_sync(project=summary.project, file=file, summary=summary)
            version, created = version_create(template=template, content=file.content, author=actor, change_note=note)
            summary.versions_created += created
            current = dict(Label.objects.filter(template=template).values_list("name", "version_id"))
            for label in file.labels:
                if current.get(label) == version.pk:
                    continue
                try:
                    label_move(template=template, name=label, version=version, actor=actor, via="import", note=note)
                except LabelError as exc:
                    raise TemplateStoreError([StoreProblem(file.path, "labels", exc.message)])
                summary.labels_moved += 1
                changed = True
            summary.unchanged += not (changed or created)
    return summary


def templates_store_import(*, path: Path, project_slug: str, project_name: str = "", actor=None) -> ImportSummary:
    """Read and import a directory or file; nothing is written unless every file is valid."""
    files = template_files_read(path=path)
    return templates_import(project_slug=project_slug, files=files, project_name=project_name, actor=actor)


# --- export ----------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Readable, diffable YAML: literal blocks for multi-line text, indented lists, no anchors."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)

    def ignore_aliases(self, data):
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str):
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


def _represent_list(dumper: yaml.SafeDumper, value: list):
    # Short scalar lists (tags, labels, enums) read best on one line.
    flat = bool(value) and all(
        item is None or isinstance(item, bool | int | float) or (isinstance(item, str) and "\n" not in item)
        for item in value
    )
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flat)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(list, _represent_list)


def _sorted(value: Any) -> Any:
    # Free-form JSON (schemas, object defaults): key order is not kept by PostgreSQL's jsonb, so sort it.
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def _text(value: str, *, block: bool = False) -> str:
    # A trailing newline makes YAML write a plain `|` block; import strips it again.
    value = _clean(value)
    return value + "\n" if value and (block or "\n" in value) else value


def template_file_dump(*, template: Template, content: VersionContent, labels: list[str]) -> str:
    """The file text for a template's content: same content, same bytes."""
    content = content.normalized()
    variables = []
    for var in content.variables:
        item = {"name": var["name"], "type": var["type"], "required": var["required"]}
        if var["default"] is not None:
            item["default"] = _sorted(var["default"])
        if var["description"]:
            item["description"] = _text(var["description"])
        variables.append(item)
    document = {
        "slug": template.slug,
        "title": template.title,
        "description": _text(template.description),
        "tags": list(template.tags or []),
        "labels": sorted(labels),
        "model_settings": {
            "provider": content.provider,
            "model": content.model,
            "temperature": content.temperature,
            "max_tokens": content.max_tokens,
            "output_schema": _sorted(content.output_schema),
        },
        "variables": variables,
        **{name: _text(getattr(content, name), block=True) for name in SECTIONS},
        "examples": [{key: _text(example[key]) for key in EXAMPLE_KEYS} for example in content.examples],
    }
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000)


def templates_store_export(*, project: Project, directory: Path) -> ExportSummary:
    """Write one file per template (its latest version) into directory; files already equal are left alone."""
    summary = ExportSummary()
    directory.mkdir(parents=True, exist_ok=True)
    labels_by_template: dict[int, list[Label]] = {}
    for label in Label.objects.filter(template__project=project).select_related("version"):
        labels_by_template.setdefault(label.template_id, []).append(label)
    for template in Template.objects.filter(project=project).order_by("slug"):
        latest = template.versions.order_by("-number").first()
        if latest is None:
            summary.notes.append(f"{template.slug}: has no version yet; not exported.")
            continue
        names = []
        for label in labels_by_template.get(template.pk, []):
            if label.version_id == latest.pk:
                names.append(label.name)
            else:
                summary.notes.append(
                    f"{template.slug}: label '{label.name}' points at v{label.version.number}, not the latest "
                    f"v{latest.number}; not written (a file holds only the latest content)."
                )
        text = template_file_dump(template=template, content=VersionContent.from_obj(latest), labels=names)
        target = directory / f"{template.slug}.yaml"
        data = text.encode("utf-8")
        if target.is_file() and target.read_bytes() == data:
            summary.unchanged.append(target)
        else:
            target.write_bytes(data)
            summary.written.append(target)
    return summary
