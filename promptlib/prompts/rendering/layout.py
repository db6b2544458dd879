"""Rendering a version into chat messages and flat text.

Layout of the rendered messages (deterministic; empty sections leave no heading):
  system    = role, then "## Constraints" + constraints, then "## Output format" + format
  examples  = each few-shot example as a user message (input) and an assistant message (output)
  user      = "## Context" + context, then "## Task" + task
The flat text joins the same parts: system, then each example as "Example input:" / "Example
output:", then the user part, separated by blank lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from promptlib.prompts.content import SECTIONS, VersionContent
from promptlib.prompts.rendering.errors import RenderLimitExceeded
from promptlib.prompts.rendering.limits import bounded
from promptlib.prompts.rendering.sandbox import render_section
from promptlib.prompts.rendering.variables import resolve_variables


@dataclass(frozen=True)
class RenderedPrompt:
    messages: list[dict[str, str]]
    text: str
    variables: dict[str, Any] = field(default_factory=dict)


def _join(parts: list[tuple[str, str]]) -> str:
    """Join (heading, text) pairs, skipping empty texts so that no heading stands alone."""
    blocks = [f"{heading}\n{text}" if heading else text for heading, text in parts if text]
    return "\n\n".join(blocks)


def render(content: Any, variables: dict[str, Any] | None = None) -> RenderedPrompt:
    """Render a version (or VersionContent) with the caller's variables into chat messages and flat text."""
    if not isinstance(content, VersionContent):
        content = VersionContent.from_obj(content)
    resolved = resolve_variables(content.variables, variables)
    cap = settings.PROMPTLIB_RENDER_MAX_OUTPUT_CHARS
    with bounded(timeout=settings.PROMPTLIB_RENDER_TIMEOUT_SECONDS, max_chars=cap):
        out = {name: render_section(getattr(content, name), name, resolved) for name in SECTIONS}
        examples = [
            (
                render_section(ex.get("input", ""), f"examples[{i}].input", resolved),
                render_section(ex.get("output", ""), f"examples[{i}].output", resolved),
            )
            for i, ex in enumerate(content.examples)
        ]
    system = _join([("", out["role"]), ("## Constraints", out["constraints"]), ("## Output format", out["format"])])
    user = _join([("## Context", out["context"]), ("## Task", out["task"])])
    messages: list[dict[str, str]] = []
    if system:
        messages.append({"role": "system", "content": system})
    for example_in, example_out in examples:
        messages.append({"role": "user", "content": example_in})
        messages.append({"role": "assistant", "content": example_out})
    if user:
        messages.append({"role": "user", "content": user})
    text = _join(
        [("", system)]
        + [("", _join([("Example input:", i), ("Example output:", o)])) for i, o in examples]
        + [("", user)]
    )
    total = sum(len(m["content"]) for m in messages)
    if total > cap:
        raise RenderLimitExceeded(
            f"The rendered prompt has {total} characters, more than the cap of {cap}.",
            code="output_too_large",
        )
    return RenderedPrompt(messages=messages, text=text, variables=resolved)
