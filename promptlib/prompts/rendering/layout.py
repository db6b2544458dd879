"""Rendering a version into chat messages and flat text.

Layout of the rendered messages (deterministic; empty sections leave no heading):
  system    = role, then "## Constraints" + constraints, then "## Output format" + format
  examples  = each few-shot example as a user message (input) and an assistant message (output)
  user      = "## Context" + context, then "## Task" + task
The flat text joins the same parts: system, then each example as "Example input:" / "Example
output:", then the user part, separated by blank lines.

A version with a retrieval block gets its passages as the `knowledge` variable: a list of
{id, title, source, text} the caller retrieved (promptlib.prompts.retrieval) after rendering the
block's query with retrieval_query. The passages are values, like any variable: a passage holding
"{{ 7*7 }}" prints those characters, it is never compiled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from promptlib.prompts.content import KNOWLEDGE_VARIABLE, SECTIONS, VersionContent
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


def retrieval_query(content: Any, variables: dict[str, Any] | None = None) -> str | None:
    """The search text of a version's retrieval block for these variables (None: the version has no block)."""
    if not isinstance(content, VersionContent):
        content = VersionContent.from_obj(content)
    if not content.retrieval:
        return None
    resolved = resolve_variables(content.variables, variables)
    with bounded(
        timeout=settings.PROMPTLIB_RENDER_TIMEOUT_SECONDS, max_chars=settings.PROMPTLIB_RENDER_MAX_OUTPUT_CHARS
    ):
        return render_section(content.retrieval.get("query") or "", "retrieval.query", resolved)


def render(
    content: Any, variables: dict[str, Any] | None = None, *, knowledge: list[dict[str, Any]] | None = None
) -> RenderedPrompt:
    """Render a version (or VersionContent) with the caller's variables into chat messages and flat text.

    knowledge: the passages retrieved for a version with a retrieval block (none when not given).
    """
    if not isinstance(content, VersionContent):
        content = VersionContent.from_obj(content)
    resolved = resolve_variables(content.variables, variables)
    values = resolved
    if content.retrieval:
        values = {**resolved, KNOWLEDGE_VARIABLE: list(knowledge or ())}  # the sandbox cannot change them
    cap = settings.PROMPTLIB_RENDER_MAX_OUTPUT_CHARS
    with bounded(timeout=settings.PROMPTLIB_RENDER_TIMEOUT_SECONDS, max_chars=cap):
        out = {name: render_section(getattr(content, name), name, values) for name in SECTIONS}
        examples = [
            (
                render_section(ex.get("input", ""), f"examples[{i}].input", values),
                render_section(ex.get("output", ""), f"examples[{i}].output", values),
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
