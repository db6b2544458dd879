"""Ready-made starting points for a provider: pick one and the form fills its kind, address and settings.

The addresses are each server's documented default on the machine it runs on; a marketer changes
only what differs (another machine, another port) and types the key where one is needed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    kind: str
    base_url: str
    name: str  # suggested provider name
    needs_key: bool
    structured_output: str
    help: str
    models: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {**asdict(self), "models": list(self.models)}


PRESETS: tuple[Preset, ...] = (
    Preset(
        "openai", "OpenAI", "openai", "", "openai", True, "json_schema",
        "Paste your key from platform.openai.com → API keys.", ("gpt-4o-mini",),
    ),
    Preset(
        "anthropic", "Anthropic", "anthropic", "", "anthropic", True, "json_schema",
        "Paste your key from console.anthropic.com → API keys.",
    ),
    Preset(
        "ollama", "Ollama on this machine", "openai", "http://localhost:11434/v1", "ollama", False, "json_schema",
        "Start Ollama and pull a model first (ollama pull llama3.2). No key needed.",
    ),
    Preset(
        "vllm", "vLLM server", "openai", "http://localhost:8000/v1", "vllm", False, "json_schema",
        "Change the address if vLLM runs elsewhere; type its key only if it was started with --api-key.",
    ),
    Preset(
        "lmstudio", "LM Studio", "openai", "http://localhost:1234/v1", "lmstudio", False, "json_schema",
        "In LM Studio, load a model and start its local server. No key needed.",
    ),
    Preset(
        "llamacpp", "llama.cpp server (llama-server)", "openai", "http://localhost:8080/v1", "llamacpp", False,
        "json_schema", "Start llama-server with your model file. No key needed.",
    ),
    Preset(
        "demo", "Offline demo — not a real model", "demo", "", "demo", False, "json_schema",
        "Answers instantly without any network: for trying promptlib, not for real results.", ("demo-small",),
    ),
)  # fmt: skip

PRESETS_BY_KEY = {preset.key: preset for preset in PRESETS}
