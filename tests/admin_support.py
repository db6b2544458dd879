"""Helpers for the admin tests: what a browser posts from the template editor."""

from __future__ import annotations

import json
from typing import Any

from django.urls import reverse

from promptlib.prompts.admin.forms import format_value
from promptlib.prompts.content import SECTIONS, VersionContent


def editor_post(content: VersionContent, *, change_note: str = "", **extra: Any) -> dict[str, str]:
    """The POST body of the template editor showing `content`, as the page would send it."""
    data: dict[str, Any] = {name: getattr(content, name) for name in SECTIONS}
    data.update(
        provider=content.provider,
        model=content.model,
        temperature="" if content.temperature is None else content.temperature,
        max_tokens="" if content.max_tokens is None else content.max_tokens,
        output_schema=json.dumps(content.output_schema) if content.output_schema else "",
        change_note=change_note,
    )
    data.update(_management("examples", len(content.examples)))
    for i, example in enumerate(content.examples):
        data[f"examples-{i}-input"] = example["input"]
        data[f"examples-{i}-output"] = example["output"]
    data.update(_management("variables", len(content.variables)))
    for i, var in enumerate(content.variables):
        data[f"variables-{i}-name"] = var["name"]
        data[f"variables-{i}-type"] = var.get("type", "string")
        if var.get("required"):
            data[f"variables-{i}-required"] = "on"
        data[f"variables-{i}-default"] = format_value(var.get("default"))
        data[f"variables-{i}-description"] = var.get("description", "")
    for name, value in (content.retrieval or {}).items():
        if name != "min_score":
            data[f"retrieval_{name}"] = ", ".join(value) if name == "tags" else ("" if value is None else value)
    data.update(extra)
    return {k: str(v) for k, v in data.items()}


def _management(prefix: str, count: int) -> dict[str, int]:
    return {
        f"{prefix}-TOTAL_FORMS": count,
        f"{prefix}-INITIAL_FORMS": count,
        f"{prefix}-MIN_NUM_FORMS": 0,
        f"{prefix}-MAX_NUM_FORMS": 1000,
    }


def change_url(template) -> str:
    return reverse("admin:promptlib_template_change", args=[template.pk])


def admin_url(name: str, *args) -> str:
    return reverse(f"admin:promptlib_{name}", args=args)
