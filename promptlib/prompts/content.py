"""The content of a version as a plain value: what is hashed, rendered, imported and exported."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

SECTIONS = ("role", "task", "context", "format", "constraints")
MODEL_FIELDS = ("provider", "model", "temperature", "max_tokens", "output_schema")


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
        canonical = json.dumps(self.normalized().to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
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
        )
