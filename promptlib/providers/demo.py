"""Offline demo — not a real model.

Answers instantly-ish, deterministically and with no network, so a newcomer can run a whole A/B
batch before configuring a real provider. The answers only look plausible: a JSON-schema request
gets JSON matching the schema's shape, a prompt listing categories ("one of: billing, shipping,
other") gets one of them, anything else a short text that echoes the request.

It knows no facts of its own: given knowledge-base passages in the prompt's context (lines
"[id] title (source)" then the passage), it answers by quoting the passage that best matches the
task, citing its [id] — so an answer can be right only when the fact is in the prompt. Asked to check
an answer against passages (the faithfulness grader), it passes the answer when every number in it
appears in the passages.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from typing import Any

from promptlib.providers.base import ChatRequest, ChatResponse, EmbeddingResponse, Provider

DEMO_NOTICE = "Offline demo — not a real model"
# Simulated latency range in seconds: enough to see a progress bar move, small enough for tests.
LATENCY_RANGE = (0.005, 0.03)
# Pause between streamed words (the playground): the answer visibly streams in, within a second.
STREAM_PAUSE = 0.02
DEMO_MODELS = ["demo-small"]

_CHOICES = re.compile(
    r"(?:one of|categories|category|labels?|options?|classes|choose from)\s*(?:is|are)?\s*[:\-]\s*([^\n.]+)", re.I
)
_WORDS = ["clear", "friendly", "concise", "helpful", "accurate", "warm", "direct", "precise"]


class DemoProvider(Provider):
    label = DEMO_NOTICE

    def __init__(self, *, config=None, api_key: str = "") -> None:
        self.config = config

    def complete(self, request: ChatRequest) -> ChatResponse:
        started = time.perf_counter()
        seed = _seed(request)
        if request.json_schema is not None:
            text = json.dumps(_fake_value(request.json_schema, seed, "answer"))
        else:
            text = (
                _fact_check(request)
                or _classification(request, seed)
                or _from_passages(request)
                or _prose(request, seed)
            )
        low, high = LATENCY_RANGE
        time.sleep(low + (seed % 1000) / 1000 * (high - low))
        prompt = "".join(m.get("content", "") for m in request.messages)
        return ChatResponse(
            text=text,
            input_tokens=len(prompt) // 4,
            output_tokens=len(text) // 4,
            model=request.model or "demo",
            latency_ms=int((time.perf_counter() - started) * 1000),
            raw_id=f"demo-{seed % 10**12:012d}",
            finish_reason="stop",
        )

    def stream(self, request: ChatRequest) -> Iterator[str | ChatResponse]:
        response = self.complete(request)
        for piece in re.findall(r"\S+\s*", response.text):
            time.sleep(STREAM_PAUSE)
            yield piece
        yield response

    def models_list(self) -> list[str]:
        return list(DEMO_MODELS)

    def embed(self, *, model: str, inputs: list[str]) -> EmbeddingResponse:
        """Hashed bags of words: texts sharing words get close vectors, with no model and no network."""
        return EmbeddingResponse(
            vectors=[hashed_embedding(text) for text in inputs],
            input_tokens=sum(len(text) // 4 for text in inputs),
            model=model or "demo-embed",
            latency_ms=0,
        )


DEMO_EMBEDDING_DIMENSIONS = 256


def hashed_embedding(text: str, dimensions: int = DEMO_EMBEDDING_DIMENSIONS) -> list[float]:
    """A unit vector counting the text's words (lower-cased, trailing s dropped) in hashed buckets."""
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()):
        word = word[:-1] if len(word) > 3 and word.endswith("s") else word
        bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big") % dimensions
        vector[bucket] += 1.0
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    return [v / norm for v in vector]


def _seed(request: ChatRequest, salt: str = "") -> int:
    material = json.dumps([request.model, request.messages, request.json_schema, salt], sort_keys=True)
    return int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "big")


def _classification(request: ChatRequest, seed: int) -> str | None:
    for message in reversed(request.messages):
        match = _CHOICES.search(message.get("content", ""))
        if match:
            options = [w.strip(" \"'`*") for w in re.split(r",|/|\|| or ", match.group(1))]
            options = [w for w in options if w and len(w.split()) <= 3]
            if len(options) >= 2:
                return options[seed % len(options)]
    return None


_PASSAGE_HEAD = re.compile(r"^\s*\[(\d+)\][^\n]*$", re.M)
_STOP_WORDS = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "of",
        "to",
        "in",
        "on",
        "for",
        "is",
        "are",
        "was",
        "i",
        "my",
        "me",
        "you",
        "your",
        "we",
        "our",
        "it",
        "can",
        "what",
        "how",
        "much",
        "does",
        "do",
        "did",
        "from",
        "with",
        "this",
        "that",
        "be",
        "at",
        "by",
        "hi",
        "hello",
        "please",
        "there",
        "still",
        "get",
    ]
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def _terms(text: str) -> set[str]:
    """Content words, cut to 4 letters so that return / returned and ship / shipping meet."""
    return {w[:4] for w in re.findall(r"\w+", text.lower()) if w not in _STOP_WORDS}


def _from_passages(request: ChatRequest) -> str | None:
    last_user = next((m["content"] for m in reversed(request.messages) if m.get("role") == "user"), "")
    if "## Context" not in last_user:
        return None
    context, _, task = last_user.partition("## Task")
    heads = list(_PASSAGE_HEAD.finditer(context))
    wanted = _terms(task)
    best: tuple[int, str, str] = (0, "", "")
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(context)
        passage = context[head.start() : end]
        score = len(wanted & _terms(passage))
        if score > best[0]:
            best = (score, head.group(1), " ".join(context[head.end() : end].split()))
    if not best[1]:
        return None
    return f"Thanks for your message. {best[2]} [{best[1]}] Happy brewing, the Northwind team"


def _fact_check(request: ChatRequest) -> str | None:
    if "fact checker" not in (request.messages[0].get("content", "") if request.messages else ""):
        return None
    text = request.messages[-1].get("content", "")
    passages = text.split("<passages>", 1)[-1].split("</passages>", 1)[0]
    answer = text.split("<response>", 1)[-1].split("</response>", 1)[0]
    unsupported = [n for n in _NUMBER.findall(re.sub(r"\[\d+\]", "", answer)) if n not in passages]
    reason = f"not in the passages: {', '.join(unsupported)}" if unsupported else "every number is in the passages"
    return json.dumps({"score": 0 if unsupported else 10, "pass": not unsupported, "reason": reason})


def _prose(request: ChatRequest, seed: int) -> str:
    last_user = next((m["content"] for m in reversed(request.messages) if m.get("role") == "user"), "")
    words = last_user.split()
    topic = " ".join(words[:12]) + ("…" if len(words) > 12 else "")
    adjective = _WORDS[seed % len(_WORDS)]
    length = 1 + seed % 3
    sentences = [f"Here is a {adjective} answer about: {topic}."] + [
        f"Point {i}: this text comes from the offline demo provider, not a real model." for i in range(1, length + 1)
    ]
    return " ".join(sentences)


def _fake_value(schema: dict[str, Any], seed: int, name: str) -> Any:
    if "enum" in schema and schema["enum"]:
        return schema["enum"][seed % len(schema["enum"])]
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        return {key: _fake_value(sub, _mix(seed, key), key) for key, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        count = max(int(schema.get("minItems", 1)), 1)
        return [_fake_value(schema.get("items") or {}, _mix(seed, str(i)), name) for i in range(count)]
    if kind == "integer":
        return int(schema.get("minimum", 0)) + seed % 10
    if kind == "number":
        return round(float(schema.get("minimum", 0)) + (seed % 1000) / 1000, 3)
    if kind == "boolean":
        return bool(seed % 2)
    if kind == "null":
        return None
    return f"{_WORDS[seed % len(_WORDS)]} {name}"


def _mix(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big")
