"""The content of a version as a plain value: what is hashed, rendered, imported and exported."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

SECTIONS = ("role", "task", "context", "format", "constraints")
MODEL_FIELDS = ("provider", "model", "temperature", "max_tokens", "output_schema")
# A version's retrieval block (promptlib.prompts.retrieval): which knowledge base, which snapshot,
# what to search for. Its results fill the `knowledge` variable of the sections.
RETRIEVAL_FIELDS = ("knowledge_base", "snapshot", "label", "query", "top_k", "mode", "tags", "min_score")
RETRIEVAL_MODES = ("keyword", "semantic", "hybrid")
RETRIEVAL_DEFAULT_LABEL = "latest"
RETRIEVAL_TOP_K_MAX = 20
KNOWLEDGE_VARIABLE = "knowledge"


def clean_text(text: str) -> str:
    """Text as a version keeps it: LF line endings, no surrounding whitespace."""
    return (text or "").replace("\r\n", "\n").strip()


@dataclass(frozen=True)
class VersionContent:
    role: str = ""
    task: str = ""
    context: str = ""
    format: str = ""
    constraints: str = ""
    examples: list[dict[str, str]] = field(default_factory=list)
    variables: list[dict[str, Any]] = field(default_factory=list)
    provider: str = ""
    model: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    output_schema: dict | None = None
    retrieval: dict[str, Any] | None = None

    @classmethod
    def from_obj(cls, obj: Any) -> VersionContent:
        """From a Version row (or anything with the same attributes)."""
        return cls(**{name: getattr(obj, name) for name in cls.__dataclass_fields__})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VersionContent:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for name in SECTIONS + ("provider", "model"):
            if known.get(name) is None:
                known.pop(name, None)
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def model_settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in MODEL_FIELDS}

    def content_hash(self) -> str:
        data = self.normalized().to_dict()
        if data["retrieval"] is None:  # versions saved before retrieval existed keep their hash
            del data["retrieval"]
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def normalized(self) -> VersionContent:
        """Trailing whitespace and line-ending differences do not make a new version."""
        return VersionContent(
            **{name: clean_text(getattr(self, name)) for name in SECTIONS},
            examples=[
                {"input": clean_text(e.get("input", "")), "output": clean_text(e.get("output", ""))}
                for e in self.examples
            ],
            variables=[
                {
                    "name": v.get("name", ""),
                    "type": v.get("type", "string"),
                    "required": bool(v.get("required", False)),
                    "default": v.get("default"),
                    "description": v.get("description", "") or "",
                }
                for v in self.variables
            ],
            provider=(self.provider or "").strip(),
            model=(self.model or "").strip(),
            temperature=None if self.temperature is None else float(self.temperature),
            max_tokens=None if self.max_tokens is None else int(self.max_tokens),
            output_schema=self.output_schema or None,
            retrieval=retrieval_normalized(self.retrieval),
        )


def _cleaned(value: Any) -> Any:
    return clean_text(value) if isinstance(value, str) else value


def retrieval_normalized(block: dict[str, Any] | None) -> dict[str, Any] | None:
    """A retrieval block as a version keeps it: every field present, text cleaned; None when there is none.

    Values keep their types when they are wrong (a top_k of "four"): validate_content names them.
    """
    if not block:
        return None
    snapshot = block.get("snapshot")
    tags = block.get("tags") or []
    return {
        "knowledge_base": _cleaned(block.get("knowledge_base") or ""),
        "snapshot": snapshot if snapshot not in ("", None) else None,
        "label": "" if snapshot not in ("", None) else _cleaned(block.get("label") or RETRIEVAL_DEFAULT_LABEL),
        "query": _cleaned(block.get("query") or ""),
        "top_k": block.get("top_k") if block.get("top_k") is not None else 4,
        "mode": block.get("mode") or "keyword",
        "tags": sorted({t.strip() for t in tags if isinstance(t, str) and t.strip()})
        if isinstance(tags, list)
        else tags,
        "min_score": block.get("min_score"),
    }
