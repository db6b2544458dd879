"""One batch item's provider call, retries and scoring: plain values in, an Outcome out, no database.

Runs on the worker threads of a chunk (promptlib/batches/runner.py), which does every
database read and write on its own thread so that worker threads hold no connections.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache

from promptlib.core.secrets import text_scrub
from promptlib.prompts.models import Version
from promptlib.prompts.rendering import PromptError, render
from promptlib.prompts.retrieval import Retrieval
from promptlib.providers.base import ChatRequest, ChatResponse, Provider, ProviderError
from promptlib.providers.limits import ProviderLimiter, limiter_for
from promptlib.providers.models import ModelPrice, ProviderConfig
from promptlib.providers.pricing import listed_cost
from promptlib.providers.registry import provider_for
from promptlib.scorers import (
    JUDGE_KINDS,
    Score,
    ScoreInput,
    Scorer,
    ScorerError,
    faithful,
    schema_passed,
    scorer_for,
    task_success,
)
from promptlib.scorers.grounding import citation_counts, context_counts

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 60.0
CACHE_TTL_SECONDS = 7 * 24 * 3600
MAX_LOGGED_ERROR = 300  # characters of an error kept on an item, after scrubbing (promptlib/core/secrets.py)

# An item's own kinds of error, beside the providers' (promptlib.providers.base.ErrorKind).
RENDER_ERROR, INTERNAL_ERROR = "render", "internal"
ITEM_ERROR_KINDS = (RENDER_ERROR, INTERNAL_ERROR)

PriceFn = Callable[[int, int], float]
JUDGE_TEMPERATURE = 0.0  # judges are pinned: the same answer gets the same grade (LlmJudgeScorer refuses others)


def backoff_seconds(*, attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with full jitter; the provider's Retry-After wins when it said so."""
    if retry_after is not None:
        return retry_after + random.uniform(0, min(1.0, retry_after * 0.1))
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def price_fn_for(*, config: ProviderConfig, model: str) -> PriceFn:
    """Cost of (input_tokens, output_tokens), resolved now so that threads never query the database."""
    override = ModelPrice.objects.filter(provider=config, model=model).first()
    if override is not None:
        per_in, per_out = override.input_per_mtok, override.output_per_mtok
        return lambda i, o: float((i * per_in + o * per_out) / Decimal(1_000_000))
    kind, base_url = config.kind, config.base_url
    return lambda i, o: float(
        listed_cost(kind=kind, base_url=base_url, model=model, input_tokens=i, output_tokens=o).usd
    )


@dataclass
class Endpoint:
    """A provider and model ready to call: its client, cross-worker limiter and price."""

    config: ProviderConfig
    model: str
    provider: Provider | None
    price: PriceFn
    setup_error: ProviderError | None = None
    limiter: ProviderLimiter | None = None

    @classmethod
    def build(cls, *, config: ProviderConfig, model: str) -> Endpoint:
        try:
            provider = provider_for(config)
        except ProviderError as exc:  # e.g. the API key variable is not set: every call fails the same way
            return cls(config=config, model=model, provider=None, price=lambda i, o: 0.0, setup_error=exc)
        price = price_fn_for(config=config, model=model)
        return cls(config=config, model=model, provider=provider, price=price, limiter=limiter_for(config))

    def scrub(self, text: str) -> str:
        """Error text fit to store: without this endpoint's key nor anything credential-like, truncated."""
        key = getattr(self.provider, "api_key", "")
        return text_scrub(text, secrets=[key] if key else [], limit=MAX_LOGGED_ERROR)

    def call(self, request: ChatRequest) -> ChatResponse:
        if self.setup_error is not None:
            raise self.setup_error
        with self.limiter:
            return self.provider.complete(request)


@dataclass
class Plan:
    """How one variant's items are called."""

    version: Version
    endpoint: Endpoint
    temperature: float | None
    max_tokens: int | None
    # case id → rendered messages (or the PromptError): repeats and retries of a case render once per chunk.
    rendered: dict[int, list[dict[str, str]] | PromptError] = field(default_factory=dict)
    # case id → what the version's retrieval block found (or why it could not), filled on the runner's
    # thread before the item is handed to a worker thread (which never queries): see retrieval_prepare.
    retrieved: dict[int, Retrieval | PromptError] = field(default_factory=dict)
    # case id → what its retrieval's query embedding cost (USD), not yet charged to an item: charged once,
    # to the first answer of the case, so repeats and retries do not count it again.
    retrieval_costs: dict[int, float] = field(default_factory=dict)
    _costs_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def retrieval_cost_take(self, case_id: int) -> float:
        with self._costs_lock:
            return self.retrieval_costs.pop(case_id, 0.0)

    @property
    def retrieves(self) -> bool:
        return bool(self.version.retrieval)

    def retrieval_for(self, work: ItemWork) -> Retrieval | None:
        found = self.retrieved.get(work.case_id) if self.retrieves else None
        if isinstance(found, PromptError):
            raise found.with_traceback(None)
        return found

    def messages_for(self, work: ItemWork) -> list[dict[str, str]]:
        messages = self.rendered.get(work.case_id)
        if messages is None:
            try:
                retrieval = self.retrieval_for(work)
                knowledge = retrieval.knowledge() if retrieval is not None else None
                messages = render(self.version, work.case_input, knowledge=knowledge).messages
            except PromptError as exc:
                messages = exc
            self.rendered[work.case_id] = messages  # threads may race here: both render the same thing
        if isinstance(messages, PromptError):
            raise messages.with_traceback(None)
        return messages


@dataclass
class ScorerSpec:
    kind: str
    name: str
    config: dict
    scorer: Scorer
    counts_for_success: bool
    judge: Endpoint | None = None


@dataclass
class ItemWork:
    """What a thread needs for one item."""

    item_id: int
    variant_id: int
    case_id: int
    repeat: int
    case_input: dict
    expected_output: str
    expected_fields: dict
    attempts: int
    attempt_log: list
    rerun_from: int = 0  # attempts before the latest re-run: this run's retry budget starts there
    expected_sources: list = field(default_factory=list)
    expected_facts: list = field(default_factory=list)


@dataclass
class Outcome:
    item_id: int
    status: str  # "done", "failed" or "retry"
    attempts: int
    attempt_log: list
    wait_seconds: float = 0.0
    values: dict[str, Any] = field(default_factory=dict)


def response_cache_key(*, endpoint: Endpoint, request: ChatRequest, repeat: int) -> str:
    """Identical calls share an entry; each repeat index has its own, so repeats stay independent samples."""
    config = endpoint.config
    material = json.dumps(
        [config.kind, config.base_url, config.pk, request.model, request.messages, request.temperature,
         request.max_tokens, request.json_schema, config.structured_output, repeat],
        sort_keys=True, default=str,
    )  # fmt: skip
    return "llmresp:v1:" + hashlib.sha256(material.encode()).hexdigest()


def item_call(*, work: ItemWork, plan: Plan, scorers: list[ScorerSpec], use_cache: bool) -> Outcome:
    attempts, log = work.attempts, list(work.attempt_log)
    try:
        messages = plan.messages_for(work)
        retrieval = plan.retrieval_for(work)
    except PromptError as exc:
        return _failed(work, attempts, log, f"Rendering failed: {exc.message}", RENDER_ERROR)
    retrieval_ms = int(round(retrieval.latency_ms)) if retrieval is not None else None
    version = plan.version
    request = ChatRequest(
        model=plan.endpoint.model,
        messages=messages,
        temperature=plan.temperature,
        max_tokens=plan.max_tokens,
        json_schema=version.output_schema,
    )
    key = response_cache_key(endpoint=plan.endpoint, request=request, repeat=work.repeat) if use_cache else ""
    hit = cache.get(key) if key else None
    started = time.perf_counter()
    cost = 0.0
    if hit is not None:
        response = ChatResponse(**hit)
        response.latency_ms = int((time.perf_counter() - started) * 1000)
    else:
        while True:
            attempts += 1
            try:
                response = plan.endpoint.call(request)
            except ProviderError as exc:
                log.append(_attempt_entry(attempts, exc, plan.endpoint))
                retries_left = plan.endpoint.config.max_retries - (attempts - work.rerun_from - 1)
                if exc.permanent or retries_left <= 0:
                    return _failed(work, attempts, log, plan.endpoint.scrub(str(exc)), exc.kind)
                wait = backoff_seconds(attempt=attempts, retry_after=exc.retry_after)
                if wait > settings.PROMPTLIB_BATCH_MAX_SLEEP_SECONDS:
                    return Outcome(work.item_id, "retry", attempts, log, wait_seconds=wait)
                time.sleep(wait)
                continue
            except Exception as exc:  # an SDK bug must fail one item, not the whole chunk
                error = plan.endpoint.scrub(f"Unexpected error: {exc!r}")
                log.append({"n": attempts, "ok": False, "kind": INTERNAL_ERROR, "error": error})
                return _failed(work, attempts, log, error, INTERNAL_ERROR)
            log.append({"n": attempts, "ok": True, "ms": response.latency_ms})
            break
        cost = plan.endpoint.price(response.input_tokens, response.output_tokens)
        if key:
            cache.set(key, _response_dict(response), CACHE_TTL_SECONDS)
    cost += plan.retrieval_cost_take(work.case_id)  # the query's embedding: part of what answering cost
    inp = ScoreInput(
        output=response.text,
        case_input=work.case_input,
        expected_output=work.expected_output or None,
        expected_fields=work.expected_fields or None,
        latency_ms=float(response.latency_ms),
        cost_usd=cost,
        output_schema=version.output_schema,
        retrieved=retrieval.chunks if retrieval is not None else (),
    )
    results = [(spec, _score(spec, inp, plan)) for spec in scorers]
    grounding = _grounding(work, response.text, retrieval)
    return Outcome(
        work.item_id,
        "done",
        attempts,
        log,
        values={
            "model": response.model or plan.endpoint.model,
            "output": response.text,
            "success": task_success((s.kind, score) for s, score in results if s.counts_for_success),
            "schema_passed": schema_passed((s.kind, score) for s, score in results),
            # Retrieval is part of answering: its time counts in the call's latency.
            "latency_ms": max(int(response.latency_ms), 0) + (retrieval_ms or 0),
            "cost_usd": cost,
            "judge_cost_usd": sum(score.judge_cost_usd for _, score in results),
            "judge_unread": sum(score.unreadable for _, score in results),
            "input_tokens": response.input_tokens,
            "output_tokens": response.output_tokens,
            "cached": hit is not None,
            "scores": [_score_dict(score) for _, score in results],
            "faithful": faithful((s.kind, score) for s, score in results),
            "retrieval_ms": retrieval_ms,
            **grounding,
        },
    )


def _grounding(work: ItemWork, answer: str, retrieval: Retrieval | None) -> dict[str, Any]:
    """What the call was given from the knowledge base, and the grounding counts the metrics sum.

    A version without retrieval is counted too: the case's expected facts are in no passage (recall 0),
    and whatever it cites names no passage; that is the comparison "without vs with" needs.
    """
    passages = retrieval.chunks if retrieval is not None else ()
    expected, found = context_counts(
        expected_sources=work.expected_sources, expected_facts=work.expected_facts, passages=passages
    )
    made, valid = citation_counts(answer=answer, passages=passages)
    return {
        "retrieved": [{k: p[k] for k in ("id", "source", "title", "score")} for p in passages],
        "context_expected": expected,
        "context_found": found,
        "citations_made": made,
        "citations_valid": valid,
    }


def _score(spec: ScorerSpec, inp: ScoreInput, plan: Plan) -> Score:
    judge = _judge_call(spec.judge or plan.endpoint, spec.config) if spec.kind in JUDGE_KINDS else None
    try:
        return spec.scorer.evaluate(inp, spec.config, judge_call=judge)
    except (ScorerError, ProviderError) as exc:
        # No verdict rather than a false failure: the scorer could not run.
        detail = (spec.judge or plan.endpoint).scrub(f"Scorer could not run: {exc}")
        return Score(metric=spec.name, passed=None, value=None, detail=detail)


def _judge_call(endpoint: Endpoint, config: dict):
    """The judge's call: temperature pinned at 0, the verdict schema asked for through the provider's
    structured-output mode (json_schema or json_object; with "none" the prompt alone asks for it)."""

    def call(messages: list[dict[str, str]], json_schema: dict | None = None) -> tuple[str, int, int, float]:
        request = ChatRequest(
            model=config.get("model") or endpoint.model,
            messages=messages,
            temperature=JUDGE_TEMPERATURE,
            json_schema=json_schema,
        )
        for attempt in range(1, endpoint.config.max_retries + 2):
            try:
                response = endpoint.call(request)
                break
            except ProviderError as exc:
                if exc.permanent or attempt > endpoint.config.max_retries:
                    raise
                time.sleep(min(backoff_seconds(attempt=attempt, retry_after=exc.retry_after), 10.0))
        cost = endpoint.price(response.input_tokens, response.output_tokens)
        return response.text, response.input_tokens, response.output_tokens, cost

    return call


def _attempt_entry(n: int, exc: ProviderError, endpoint: Endpoint) -> dict:
    return {
        "n": n,
        "ok": False,
        "kind": exc.kind,
        "status": exc.status,
        "retry_after": exc.retry_after,
        "error": endpoint.scrub(str(exc)),
    }


def _failed(work: ItemWork, attempts: int, log: list, error: str, kind: str) -> Outcome:
    return Outcome(work.item_id, "failed", attempts, log, values={"error": error, "error_kind": kind, "success": False})


def _response_dict(response: ChatResponse) -> dict:
    return {
        "text": response.text,
        "input_tokens": response.input_tokens,
        "output_tokens": response.output_tokens,
        "model": response.model,
        "latency_ms": response.latency_ms,
        "raw_id": response.raw_id,
        "finish_reason": response.finish_reason,
    }


def _score_dict(score: Score) -> dict:
    stored = {"metric": score.metric, "passed": score.passed, "value": score.value, "detail": score.detail}
    return {**stored, "unread": True} if score.unreadable else stored


def scorer_specs_for(*, rows, judge_endpoint: Callable[[dict], Endpoint | None]) -> list[ScorerSpec]:
    """ScorerConfig rows → ready scorers (configs cleaned once, judges resolved)."""
    specs = []
    for row in rows:
        scorer = scorer_for(row.kind)
        config = scorer.validate_config({**(row.config or {}), "name": row.name})
        judge = judge_endpoint(config) if row.kind in JUDGE_KINDS else None
        specs.append(ScorerSpec(row.kind, row.name, config, scorer, row.counts_for_success, judge))
    return specs
