"""Valid JSON, and the extraction every JSON-reading scorer shares.

Models often wrap JSON in ```json fences or a sentence of prose. Unless `strict` is set, the first JSON
object (or, failing that, array) found is used, in this order: the whole output, fenced blocks
(```json ones first), then the text from each `{` (then each `[`) onward.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from promptlib.scorers.base import Score, ScoreInput, Scorer, verdict

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_DECODER = json.JSONDecoder()
_MAX_STARTS = 200  # bounds the work on long outputs full of braces


@dataclass(frozen=True)
class ParsedJSON:
    ok: bool
    value: Any = None
    source: str = ""  # "whole output", "```json fence", "embedded in text"
    error: str = ""


def _whole(text: str) -> tuple[Any, str]:
    try:
        return json.loads(text), ""
    except json.JSONDecodeError as exc:
        return None, f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
    except RecursionError:
        return None, "nested too deeply"


def _embedded(text: str, opener: str) -> Any:
    start, tries = text.find(opener), 0
    while start != -1 and tries < _MAX_STARTS:
        try:
            value, _end = _DECODER.raw_decode(text, start)
            return value
        except (json.JSONDecodeError, RecursionError):
            pass
        start, tries = text.find(opener, start + 1), tries + 1
    return None


def parse_json_output(text: str, *, strict: bool = False) -> ParsedJSON:
    stripped = (text or "").strip().lstrip("\ufeff")
    value, error = _whole(stripped)
    if not error:
        return ParsedJSON(ok=True, value=value, source="whole output")
    if strict:
        return ParsedJSON(ok=False, error=f"output is not JSON: {error}")
    fences = sorted(_FENCE.findall(stripped), key=lambda f: f[0].lower() != "json")  # stable: ```json first
    for tag, body in fences:
        value, fence_error = _whole(body.strip())
        if not fence_error:
            return ParsedJSON(ok=True, value=value, source=f"```{tag.lower()} fence" if tag else "``` fence")
    for opener in ("{", "["):
        value = _embedded(stripped, opener)
        if isinstance(value, dict | list):
            return ParsedJSON(ok=True, value=value, source="embedded in text")
    if fences:
        return ParsedJSON(ok=False, error="the fenced block is not valid JSON")
    return ParsedJSON(ok=False, error=f"no JSON found in the output ({error})")


class JsonValidScorer(Scorer):
    kind = "json_valid"
    options = {"strict": False}

    def clean(self, config: dict) -> dict:
        return {"strict": self.clean_bool(config, "strict")}

    def evaluate(self, inp: ScoreInput, cfg: dict, *, judge_call=None) -> Score:
        parsed = parse_json_output(inp.output, strict=cfg["strict"])
        if parsed.ok:
            return verdict(cfg["name"], True, f"valid JSON ({parsed.source})")
        return verdict(cfg["name"], False, parsed.error)
