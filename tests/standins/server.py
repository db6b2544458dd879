"""A local stand-in for LLM providers that speaks their real wire formats.

OpenAI's `POST /v1/chat/completions` and Anthropic's `POST /v1/messages`, so the official SDKs run
unmodified against it. Scripted latency, answers and failures; it records what it saw.

In a test:

    with StandinServer(latency=0.05) as server:
        server.fail_next(2, status=429, retry_after=1)
        config = ProviderConfig(kind="openai", base_url=server.openai_base_url, ...)
        ...
        assert server.stats()["max_in_flight"] <= 4

From another process (benchmarks), `python -m tests.standins.server --port 0 --latency 0.2` prints the
port on its first line, then serves until killed. `GET /_stats` returns the stats as JSON,
`POST /_reset` clears them, `POST /_control` takes {"latency": s, "fail_next": {"count": n,
"status": 429, "retry_after": 1}, "hang_next": {"count": n, "seconds": s}, "refuse_next": n,
"fail_rate": p, "fail_status": 500, "seed": 1, "response_formats": ["text", "json_object"],
"fault_mix": [{"rate": 0.1, "status": 429, "retry_after": 1}, {"rate": 0.05, "hang": 30}],
"models": ["a", "b"], "api_key": "sk-…", "stream_delay": s}.

`fault_mix` draws one random number per completion and answers with the first fault whose cumulative
rate it falls under (an HTTP error, or a hang of `hang` seconds before a normal answer); [] (the
default) turns it off. The stats count what it drew under "faults" ({"429": n, "hang": n, …}).

`POST /v1/embeddings` answers OpenAI's shape with hashed bags of words (texts sharing words get close
vectors; `embedding_inputs` in the stats counts the texts it embedded).

`"stream": true` requests get the provider's server-sent events (OpenAI's chunks, Anthropic's
events), one word per event, `stream_delay` seconds apart. `GET /v1/models` lists `models`. With
`api_key` set, a request carrying another key (Authorization: Bearer, or x-api-key) gets a 401.

`response_formats` lists the response_format types the server takes (None, the default: any); a
request with another type gets llama-cpp-python's answer to `json_schema`: a 500 whose message says
"Input should be 'text' or 'json_object'". Every completion's response_format (None if absent) is
recorded in the stats, bodies kept or not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

AnswerFn = Callable[[dict[str, Any]], str]

_OPENAI_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit"}
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


@dataclass
class Failure:
    """What to do instead of answering: an HTTP error, a hang, or a refusal."""

    status: int = 0  # an HTTP error status, or 0
    retry_after: str | None = None  # the Retry-After header's value (seconds or an HTTP date)
    headers: dict[str, str] = field(default_factory=dict)
    hang_seconds: float = 0.0  # sleep this long before answering (normally)
    refusal: bool = False  # answer with the provider's refusal shape
    message: str = ""  # the error's message ("Stand-in error <status>" if empty)


def default_answer(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    last = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    content = last.get("content", "")
    if isinstance(content, list):  # Anthropic content blocks
        content = " ".join(block.get("text", "") for block in content if isinstance(block, dict))
    return f"Stand-in answer to: {content[:60]}"


class _State:
    def __init__(self, latency: float, answer: AnswerFn, record_bodies: bool) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.latency = latency
        self.answer = answer
        self.record_bodies = record_bodies
        self.scripted: deque[Failure] = deque()
        self.fail_rate = 0.0
        self.fail_status = 500
        self.fault_mix: list[tuple[float, Failure]] = []  # (cumulative rate, failure)
        self.response_formats: frozenset[str] | None = None  # types taken; None: any
        self.models = ["standin", "standin-large"]  # what GET /v1/models lists
        self.api_key: str | None = None  # the one key taken; None: any
        self.stream_delay = 0.0  # seconds between the events of a streamed answer
        self.random = random.Random(0)  # noqa: S311 — scripted failures, not security
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.requests = 0
            self.max_in_flight = self.in_flight  # requests in flight now stay counted until they end
            self.timestamps: list[float] = []
            self.bodies: list[dict[str, Any]] = []
            self.headers: list[dict[str, str]] = []
            self.paths: list[str] = []
            self.response_formats_seen: list[dict[str, Any] | None] = []
            self.faults: dict[str, int] = {}  # what fault_mix drew: "429", "500", "hang"…
            self.embedding_inputs = 0

    def arrive(self) -> None:
        """A completion request's first line arrived: in flight until its answer is written out."""
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def key_refused(self, headers: dict[str, str]) -> bool:
        if self.api_key is None:
            return False
        sent = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ").strip()
        return sent != self.api_key

    def begin(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Failure | None:
        with self.lock:
            self.requests += 1
            self.timestamps.append(time.time())
            self.paths.append(path)
            response_format = body.get("response_format")
            self.response_formats_seen.append(response_format if isinstance(response_format, dict) else None)
            if self.record_bodies:
                self.bodies.append(body)
                self.headers.append(headers)
            if self.scripted:
                return self.scripted.popleft()
            if self.key_refused(headers):
                return Failure(status=401, message="Incorrect API key provided.")
            if not self._format_taken(response_format):
                return Failure(status=500, message=_FORMAT_REFUSAL.format(type=response_format.get("type")))
            if self.fail_rate and self.random.random() < self.fail_rate:
                return Failure(status=self.fail_status, retry_after="1" if self.fail_status == 429 else None)
            if self.fault_mix:
                draw = self.random.random()
                failure = next((failure for upto, failure in self.fault_mix if draw < upto), None)
                if failure is not None:
                    kind = str(failure.status) if failure.status else "hang"
                    self.faults[kind] = self.faults.get(kind, 0) + 1
                return failure
            return None

    def _format_taken(self, response_format: Any) -> bool:
        if self.response_formats is None or not isinstance(response_format, dict):
            return True
        return response_format.get("type") in self.response_formats

    def end(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "timestamps": list(self.timestamps),
                "paths": list(self.paths),
                "bodies": list(self.bodies),
                "headers": list(self.headers),
                "response_formats": list(self.response_formats_seen),
                "faults": dict(self.faults),
                "embedding_inputs": self.embedding_inputs,
            }

    def control(self, command: dict[str, Any]) -> None:
        with self.lock:
            if "latency" in command:
                self.latency = float(command["latency"])
            if "seed" in command:
                self.random = random.Random(command["seed"])  # noqa: S311
            if "fail_rate" in command:
                self.fail_rate = float(command["fail_rate"])
            if "fail_status" in command:
                self.fail_status = int(command["fail_status"])
            if "fault_mix" in command:
                self.fault_mix, upto = [], 0.0
                for fault in command["fault_mix"] or []:
                    upto += float(fault["rate"])
                    retry_after = None if fault.get("retry_after") is None else str(fault["retry_after"])
                    failure = Failure(status=int(fault.get("status", 0)), retry_after=retry_after,
                                      hang_seconds=float(fault.get("hang", 0)))  # fmt: skip
                    self.fault_mix.append((upto, failure))
            if "response_formats" in command:
                taken = command["response_formats"]
                self.response_formats = None if taken is None else frozenset(taken)
            if "models" in command:
                self.models = list(command["models"])
            if "api_key" in command:
                self.api_key = command["api_key"]
            if "stream_delay" in command:
                self.stream_delay = float(command["stream_delay"])
        if "fail_next" in command:
            spec = command["fail_next"]
            retry_after = None if spec.get("retry_after") is None else str(spec["retry_after"])
            self.script(spec.get("count", 1), Failure(status=int(spec.get("status", 500)), retry_after=retry_after))
        if "hang_next" in command:
            spec = command["hang_next"]
            self.script(spec.get("count", 1), Failure(hang_seconds=float(spec["seconds"])))
        if "refuse_next" in command:
            self.script(int(command["refuse_next"]), Failure(refusal=True))

    def script(self, count: int, failure: Failure) -> None:
        with self.lock:
            self.scripted.extend([failure] * count)


# What llama-cpp-python's server answers (500) to a response_format type it does not take.
_FORMAT_REFUSAL = (
    "1 validation error for CreateChatCompletionRequest\nresponse_format.type\n  Input should be 'text' or "
    "'json_object' [type=literal_error, input_value='{type}', input_type=str]"
)
_COMPLETION_PATHS = ("/v1/chat/completions", "/v1/messages")
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}  # fmt: skip


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: a minimal parser, enough for JSON POSTs with Content-Length.

    A protocol rather than streams: an answer without latency is written from data_received, with no
    task or await per request (in benchmarks the stand-in shares the machine's CPUs with the workers it
    serves). One request at a time, as clients without pipelining send them: bytes that arrive while
    an answer waits (latency, a hang) are parsed once it is written.
    """

    def __init__(self, state: _State, transports: set[asyncio.Transport]) -> None:
        self.state, self.transports = state, transports
        self.buffer = bytearray()
        self.waiting = False  # an answer is scheduled and not written yet
        self.streaming = False  # a streamed answer is being written: in flight until its last event
        self.arrived = False  # a completion's head came, its body not yet
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.transports.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transports.discard(self.transport)
        if self.arrived:  # the client left halfway through sending a completion request
            self.state.end()
        if self.streaming:  # the client left during a streamed answer
            self.streaming = False
            self.state.end()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        try:
            self._process()
        except ValueError:  # not HTTP as this parser knows it
            self.transport.close()

    def _process(self) -> None:
        while not self.waiting and not self.transport.is_closing():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            line, *lines = self.buffer[:end].decode("latin-1").split("\r\n")
            method, path, version = line.split(" ", 2)
            headers = {}
            for header in lines:
                name, _, value = header.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if method == "POST" and path in _COMPLETION_PATHS and not self.arrived:
                # In flight from the request's head until its answer is written (what a client's
                # concurrency limit bounds), not just while the answer is being prepared.
                self.state.arrive()
                self.arrived = True
            if len(self.buffer) < end + 4 + length:
                return  # the body is still on its way
            raw = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = {}
            body = body if isinstance(body, dict) else {}
            keep_alive = version.strip() == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
            self._dispatch(method, path, headers, body, keep_alive)

    def _dispatch(self, method: str, path: str, headers: dict, body: dict, keep_alive: bool) -> None:
        if method != "POST" or path not in _COMPLETION_PATHS:
            self._write(*_route(self.state, method, path, body, headers), keep_alive)
            return
        self.arrived = False  # counted in flight since its head came (_process), until _answer
        failure = self.state.begin(path, body, headers)
        delay = failure.hang_seconds if failure is not None and failure.hang_seconds else self.state.latency
        if not delay:
            self._answer(path, body, failure, keep_alive)
            return
        self.waiting = True
        asyncio.get_running_loop().call_later(delay, self._answer_later, path, body, failure, keep_alive)

    def _answer_later(self, path: str, body: dict, failure: Failure | None, keep_alive: bool) -> None:
        self.waiting = False
        self._answer(path, body, failure, keep_alive)
        self._process()

    def _answer(self, path: str, body: dict, failure: Failure | None, keep_alive: bool) -> None:
        if body.get("stream") and not (failure is not None and failure.status):
            self._stream(path, body, failure)
            return
        answer = _completion(self.state, path, body, failure)
        self.state.end()  # before the write: a client that has its answer never sees itself still counted
        self._write(*answer, keep_alive)

    def _write(self, status: int, payload: Any, extra: dict[str, str], keep_alive: bool) -> None:
        if self.transport.is_closing():
            return  # the client went away (often: its timeout fired during a hang)
        data = json.dumps(payload).encode()
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}", "Content-Type: application/json",
                f"Content-Length: {len(data)}", *(f"{k}: {v}" for k, v in extra.items())]  # fmt: skip
        if not keep_alive:
            head.append("Connection: close")
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
        if not keep_alive:
            self.transport.close()

    def _stream(self, path: str, body: dict, failure: Failure | None) -> None:
        if self.transport.is_closing():
            self.state.end()
            return
        refusal = failure is not None and failure.refusal
        text = "" if refusal else self.state.answer(body)
        events = _anthropic_events(body, text) if path == "/v1/messages" else _openai_events(body, text, refusal)
        head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        self.transport.write(head.encode("latin-1"))
        self.streaming = self.waiting = True
        self._stream_next(deque(events))

    def _stream_next(self, events: deque[bytes]) -> None:
        if not self.streaming:  # the client went away (connection_lost counted it out)
            return
        if self.transport.is_closing() or not events:
            self.streaming = False
            self.state.end()
            self.transport.close()
            return
        self.transport.write(events.popleft())
        loop = asyncio.get_running_loop()
        if self.state.stream_delay:
            loop.call_later(self.state.stream_delay, self._stream_next, events)
        else:
            loop.call_soon(self._stream_next, events)


def _sse(data: dict | str, event: str | None = None) -> bytes:
    line = data if isinstance(data, str) else json.dumps(data)
    return ((f"event: {event}\n" if event else "") + f"data: {line}\n\n").encode()


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [word + ("" if i == len(words) - 1 else " ") for i, word in enumerate(words)] if text else []


def _openai_events(body: dict[str, Any], text: str, refusal: bool) -> list[bytes]:
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": body.get("model", "standin")}  # fmt: skip

    def chunk(delta: dict, finish: str | None = None) -> bytes:
        return _sse({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})

    events = [chunk({"role": "assistant", "content": ""})]
    if refusal:
        events.append(chunk({"refusal": "I can't help with that."}))
    events += [chunk({"content": word}) for word in _words(text)]
    events.append(chunk({}, "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        prompt_tokens, completion_tokens = _prompt_tokens(body), _tokens(text)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}  # fmt: skip
        events.append(_sse({**base, "choices": [], "usage": usage}))
    return [*events, _sse("[DONE]")]


def _anthropic_events(body: dict[str, Any], text: str) -> list[bytes]:
    message = _anthropic_message(body, "", False)
    message["usage"]["output_tokens"] = 1
    deltas = [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}}
              for word in _words(text)]  # fmt: skip
    return [
        _sse({"type": "message_start", "message": message}, "message_start"),
        _sse(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        ),  # fmt: skip
        *(_sse(delta, "content_block_delta") for delta in deltas),
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": _tokens(text)},
            },
            "message_delta",
        ),  # fmt: skip
        _sse({"type": "message_stop"}, "message_stop"),
    ]


def _route(
    state: _State, method: str, path: str, body: dict, headers: dict[str, str]
) -> tuple[int, Any, dict[str, str]]:
    if method == "GET" and path.split("?")[0] == "/v1/models":
        if state.key_refused(headers):
            return 401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_api_key"}}, {}
        data = [{"id": name, "object": "model", "type": "model", "created": 0, "created_at": "2025-01-01T00:00:00Z",
                 "owned_by": "standin", "display_name": name} for name in state.models]  # fmt: skip
        first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
        return 200, {"object": "list", "data": data, "has_more": False, "first_id": first, "last_id": last}, {}
    if method == "POST" and path == "/v1/embeddings":
        return _embeddings(state, body, headers)
    if method == "GET" and path == "/_stats":
        return 200, state.stats(), {}
    if method == "POST" and path == "/_reset":
        state.reset()
        return 200, {"ok": True}, {}
    if method == "POST" and path == "/_control":
        state.control(body)
        return 200, {"ok": True}, {}
    return 404, {"error": {"message": f"No route {method} {path}"}}, {}


def hashed_embedding(text: str, dimensions: int = 256) -> list[float]:
    """A unit vector counting the text's words in hashed buckets (as the offline demo provider does)."""
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()):
        word = word[:-1] if len(word) > 3 and word.endswith("s") else word
        bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big") % dimensions
        vector[bucket] += 1.0
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    return [v / norm for v in vector]


def _embeddings(state: _State, body: dict, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    if state.key_refused(headers):
        return 401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_api_key"}}, {}
    inputs = body.get("input")
    inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
    with state.lock:
        state.embedding_inputs += len(inputs)
    data = [{"object": "embedding", "index": i, "embedding": hashed_embedding(text)} for i, text in enumerate(inputs)]
    tokens = sum(_tokens(text) for text in inputs)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return 200, {"object": "list", "data": data, "model": body.get("model", ""), "usage": usage}, {}


def _completion(state: _State, path: str, body: dict, failure: Failure | None) -> tuple[int, Any, dict[str, str]]:
    anthropic = path == "/v1/messages"
    if failure is not None and failure.status:
        return _error_answer(failure, anthropic)
    refusal = failure is not None and failure.refusal
    text = "" if refusal else state.answer(body)
    payload = _anthropic_message(body, text, refusal) if anthropic else _openai_completion(body, text, refusal)
    return 200, payload, {}


def _error_answer(failure: Failure, anthropic: bool) -> tuple[int, Any, dict[str, str]]:
    headers = dict(failure.headers)
    if failure.retry_after is not None:
        headers["Retry-After"] = failure.retry_after
    message = failure.message or f"Stand-in error {failure.status}"
    if anthropic:
        kind = _ANTHROPIC_ERROR_TYPES.get(failure.status, "api_error")
        return failure.status, {"type": "error", "error": {"type": kind, "message": message}}, headers
    kind = _OPENAI_ERROR_TYPES.get(failure.status, "server_error")
    return failure.status, {"error": {"message": message, "type": kind, "param": None, "code": kind}}, headers


def _tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


def _prompt_tokens(body: dict[str, Any]) -> int:
    return _tokens(json.dumps(body.get("messages") or []) + json.dumps(body.get("system") or ""))


def _openai_completion(body: dict[str, Any], text: str, refusal: bool) -> dict[str, Any]:
    prompt_tokens, completion_tokens = _prompt_tokens(body), _tokens(text)
    message = {"role": "assistant", "content": None if refusal else text, "refusal": None}
    if refusal:
        message["refusal"] = "I can't help with that."
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "standin"),
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _anthropic_message(body: dict[str, Any], text: str, refusal: bool) -> dict[str, Any]:
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "standin"),
        "content": [] if refusal else [{"type": "text", "text": text}],
        "stop_reason": "refusal" if refusal else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": _prompt_tokens(body), "output_tokens": _tokens(text)},
    }


class StandinServer:
    """The stand-in on 127.0.0.1 (port 0 = any free one); a context manager.

    One asyncio event loop in a background thread serves every connection, so hundreds of parallel
    keep-alive clients cost no threads and latency is a timer on the loop.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        answer: AnswerFn = default_answer,
        port: int = 0,
        record_bodies: bool = True,
    ) -> None:
        self.state = _State(latency, answer, record_bodies)
        self.requested_port = port
        self.port = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self._transports: set[asyncio.Transport] = set()

    async def _open(self) -> asyncio.base_events.Server:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _Connection(self.state, self._transports), "127.0.0.1", self.requested_port, backlog=2048
        )
        self.port = server.sockets[0].getsockname()[1]
        return server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url  # the Anthropic SDK adds /v1/messages itself

    def provider_config(self, kind: str = "openai", **fields):
        """An unsaved ProviderConfig pointing at this server (pass project=… and .save() to keep it)."""
        from promptlib.providers.models import ProviderConfig

        base_url = self.anthropic_base_url if kind == "anthropic" else self.openai_base_url
        values = {"name": f"standin-{kind}", "kind": kind, "base_url": base_url, "models": ["standin"]}
        return ProviderConfig(**{**values, **fields})

    def start(self) -> StandinServer:
        started = threading.Event()

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            self._server = self.loop.run_until_complete(self._open())
            started.set()
            self.loop.run_forever()
            # Let the cancelled connection handlers finish before the loop goes.
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

        self.thread = threading.Thread(target=run, name=f"standin-{id(self)}", daemon=True)
        self.thread.start()
        started.wait(10)
        return self

    def stop(self) -> None:
        """Stop listening and drop open connections (clients see them closed, as after a crash)."""
        if self.loop is None or self.loop.is_closed():
            return

        async def shutdown() -> None:
            self._server.close()
            for transport in list(self._transports):
                transport.abort()
            self.loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        self.thread.join(10)

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- scripting ------------------------------------------------------------------------
    def set_latency(self, seconds: float) -> None:
        self.state.control({"latency": seconds})

    def fail_next(
        self, count: int, *, status: int, retry_after: float | str | None = None, headers=None, message: str = ""
    ) -> None:
        """The next `count` completions answer `status` (with Retry-After when given, and `message` as
        the error's message when given)."""
        value = None if retry_after is None else str(retry_after)
        failure = Failure(status=status, retry_after=value, headers=dict(headers or {}), message=message)
        self.state.script(count, failure)

    def hang_next(self, count: int, *, seconds: float) -> None:
        """The next `count` completions wait `seconds` before answering (longer than a client's timeout)."""
        self.state.script(count, Failure(hang_seconds=seconds))

    def refuse_next(self, count: int = 1) -> None:
        """The next `count` completions are refusals (OpenAI's refusal field, Anthropic's stop_reason)."""
        self.state.script(count, Failure(refusal=True))

    def serve_models(self, *names: str) -> None:
        """What GET /v1/models lists."""
        self.state.control({"models": list(names)})

    def require_key(self, key: str | None) -> None:
        """Answer 401 to any request without this key (None: take any key)."""
        self.state.control({"api_key": key})

    def stream_slowly(self, seconds: float) -> None:
        """Seconds between the events (words) of a streamed answer."""
        self.state.control({"stream_delay": seconds})

    def take_response_formats(self, *types: str) -> None:
        """Take only these response_format types (none given: any), answering others as llama-cpp-python
        does: `take_response_formats("text", "json_object")` refuses json_schema with a 500."""
        self.state.control({"response_formats": list(types) or None})

    def fail_randomly(self, probability: float, *, status: int = 500, seed: int = 0) -> None:
        self.state.control({"fail_rate": probability, "fail_status": status, "seed": seed})

    def stats(self) -> dict[str, Any]:
        """requests, in_flight, max_in_flight, timestamps (time.time() on arrival), paths, bodies, headers,
        response_formats (each completion's, None if it had none)."""
        return self.state.stats()

    def reset(self) -> None:
        self.state.reset()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local LLM provider stand-in (OpenAI and Anthropic wire formats).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="probability of an error answer")
    parser.add_argument("--fail-status", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-bodies", action="store_true", help="do not keep request bodies (long benchmarks)")
    args = parser.parse_args(argv)
    server = StandinServer(latency=args.latency, port=args.port, record_bodies=not args.no_bodies)
    server.fail_randomly(args.fail_rate, status=args.fail_status, seed=args.seed)

    async def serve() -> None:
        listening = await server._open()
        print(server.port, flush=True)
        await listening.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
