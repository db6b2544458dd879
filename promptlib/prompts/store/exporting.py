"""Exporting a project's templates as files: readable, diffable YAML; same content, same bytes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from promptlib.core.models import Project
from promptlib.prompts.content import SECTIONS, VersionContent, clean_text
from promptlib.prompts.models import Label, Template
from promptlib.prompts.store.files import EXAMPLE_KEYS


@dataclass
class ExportSummary:
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


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
    value = clean_text(value)
    return value + "\n" if value and (block or "\n" in value) else value


def _retrieval(block: dict) -> dict:
    """The retrieval block as a file shows it: what was chosen, without empty options."""
    shown = {"knowledge_base": block["knowledge_base"]}
    if block.get("snapshot") is not None:
        shown["snapshot"] = block["snapshot"]
    else:
        shown["label"] = block.get("label") or "latest"
    shown.update(query=_text(block["query"]), top_k=block["top_k"], mode=block["mode"])
    if block.get("tags"):
        shown["tags"] = list(block["tags"])
    if block.get("min_score") is not None:
        shown["min_score"] = block["min_score"]
    return shown


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
        "model_settings": {**content.model_settings(), "output_schema": _sorted(content.output_schema)},
        **({"retrieval": _retrieval(content.retrieval)} if content.retrieval else {}),
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
