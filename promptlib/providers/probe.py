"""Test connection: can this server be reached with this key, which models does it offer, and which way of
asking for JSON does it take?

    result = provider_probe(config=config)       # a ProviderConfig, saved or not
    result.verdict  → "Connected: 4 models" / "The server refused the API key (401)." / …

The structured-output probe (OpenAI-compatible servers) sends one tiny JSON request per mode, in the
order json_schema, json_object, none, and keeps the first mode the server takes: that is what the
provider's `structured_output` setting should say (promptlib/providers/openai.py).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

from promptlib.core.secrets import text_scrub
from promptlib.providers.base import ChatRequest, ProviderError
from promptlib.providers.models import ProviderConfig
from promptlib.providers.openai import is_format_refusal
from promptlib.providers.registry import provider_for
from promptlib.providers.streaming import limiter_bounded

# Each step of the probe waits at most this long, whatever the provider's own timeout: a person waits.
PROBE_TIMEOUT_SECONDS = 15.0
PROBE_SCHEMA = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}},
    "required": ["ok"],
    "additionalProperties": False,
}
PROBE_MESSAGES = [{"role": "user", "content": 'Reply with the JSON object {"ok": true} and nothing else.'}]
Mode = ProviderConfig.StructuredOutput
MODE_ORDER = (Mode.JSON_SCHEMA, Mode.JSON_OBJECT, Mode.NONE)
_MODE_NOTES = {
    Mode.JSON_SCHEMA: "It takes JSON schemas: structured output “{label}” works.",
    Mode.JSON_OBJECT: "It refused json_schema but takes json_object: structured output set to “{label}”.",
    Mode.NONE: "It takes neither json_schema nor json_object: structured output set to “{label}” "
    "(the prompt alone asks for JSON).",
}


@dataclass
class ProbeResult:
    ok: bool
    verdict: str
    models: list[str] = field(default_factory=list)
    structured_output: str = ""  # the mode to set ("": not probed)
    structured_note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def error_sentence(exc: ProviderError, *, config, seconds: float | None = None) -> str:
    """A provider failure as one plain sentence for a person (the probe's and the playground's wording).

    `seconds`: how long the caller waited, when less than the provider's timeout.
    """
    if exc.kind == "auth" and exc.status:
        return f"The server refused the API key ({exc.status})."
    if exc.kind == "connection":
        return "Nothing answers at this address. Is the server running, and is the address right?"
    if exc.kind == "timeout":
        limit = float(config.timeout_seconds) if seconds is None else seconds
        unit = "second" if limit == 1 else "seconds"
        why = "the provider's timeout" if seconds is None else "the longest a run may take here"
        return f"The server did not answer within {limit:g} {unit} ({why})."
    if exc.kind == "not_found" and exc.status:
        return f"The server answered “not found” (404): check the address and the model name. ({exc.message})"
    if exc.kind == "rate_limit":
        return "The server is busy or over its limit (rate limit); try again in a moment."
    if exc.status:
        return f"The server answered with an error ({exc.status}): {exc.message}"
    return exc.message


def provider_probe(*, config, model: str = "") -> ProbeResult:
    """Reach the server, list its models, and (OpenAI-compatible) find the structured-output mode it takes.

    Nothing is saved: the caller decides what to do with the suggested mode. `model` is the one to
    probe with (default: the first of the config's models, else the first the server lists).
    """
    config = copy.copy(config)  # the probe's shorter timeout must not leak into the caller's row
    config.timeout_seconds = min(float(config.timeout_seconds or PROBE_TIMEOUT_SECONDS), PROBE_TIMEOUT_SECONDS)
    try:
        provider = provider_for(config)
        models = provider.models_list()
    except ProviderError as exc:
        return ProbeResult(False, _scrubbed(error_sentence(exc, config=config), config))
    count = f"{len(models)} model{'' if len(models) == 1 else 's'}"
    verdict = f"Connected: {count}" if models else "Connected, but the server lists no models."
    result = ProbeResult(True, verdict, models)
    if config.kind != ProviderConfig.Kind.OPENAI:
        return result
    model = model or next(iter(config.models or []), "") or next(iter(models), "")
    if not model:
        result.structured_note = "Add a model to check how the server answers in JSON."
        return result
    return _structured_probe(config, model, result)


def _structured_probe(config, model: str, result: ProbeResult) -> ProbeResult:
    request = ChatRequest(model=model, messages=PROBE_MESSAGES, max_tokens=20, json_schema=PROBE_SCHEMA)
    for mode in MODE_ORDER:
        trial = copy.copy(config)
        trial.structured_output = mode
        try:
            with limiter_bounded(trial, wait=PROBE_TIMEOUT_SECONDS):
                provider_for(trial).complete(request)
        except ProviderError as exc:
            if is_format_refusal(exc):
                continue
            sentence = _scrubbed(error_sentence(exc, config=config), config)
            result.structured_note = f"Could not check structured output with model {model}: {sentence}"
            return result
        result.structured_output = Mode(mode).value
        result.structured_note = _MODE_NOTES[mode].format(label=Mode(mode).label)
        return result
    return result  # unreachable: "none" sends no response_format, so no format refusal


def _scrubbed(text: str, config) -> str:
    try:
        key = provider_for(config).api_key
    except ProviderError:
        key = ""
    return text_scrub(text, secrets=[key] if key else [], limit=600)
