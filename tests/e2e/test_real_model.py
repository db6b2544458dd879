"""End to end against a real model: llama-cpp-python's OpenAI-compatible server serving SmolLM2-135M-Instruct,
called through the real openai SDK by a batch of two variants (one with an output schema, one plain).

Deselected from `make test`; `make test-real-llm` installs the server and the model and runs these.
"""

import json
from dataclasses import replace

import pytest

from promptlib.analysis.report import experiment_report
from promptlib.batches.models import Batch, BatchItem, ScorerConfig
from promptlib.batches.services import batch_run_inline
from promptlib.experiments.services import VariantSpec, experiment_create
from promptlib.prompts.services import template_create, version_create
from promptlib.providers.limits import limiter_for
from promptlib.providers.models import ProviderConfig
from promptlib.stats import VerdictState
from tests.batches_support import SCHEMA, make_batch, tickets_dataset, triage_content
from tests.real_llm_support import LlamaServer, RecordingProxy, require_real_llm

pytestmark = [pytest.mark.real_llm, pytest.mark.e2e, pytest.mark.django_db]

CASES = 3
MAX_TOKENS = 48


@pytest.fixture(scope="session")
def llama_server():
    require_real_llm()
    server = LlamaServer().start()
    yield server
    server.stop()


@pytest.fixture
def proxy(llama_server):
    recorder = RecordingProxy(target=llama_server.base_url.removesuffix("/v1")).start()
    yield recorder
    recorder.stop()


@pytest.fixture
def local_model(acme, llama_server, proxy):
    name = llama_server.model_name()
    config = ProviderConfig.objects.create(
        project=acme, name="local", kind="openai", base_url=proxy.base_url, models=[name],
        structured_output="json_object", max_concurrency=2, max_retries=1, timeout_seconds=60,
    )  # fmt: skip
    limiter_for(config).reset()
    return config, name


@pytest.fixture
def schema_and_plain(acme, local_model):
    """Control: a version with an output schema; "plain": the same task answered in words, no schema."""
    _, model = local_model
    template = template_create(project=acme, slug="triage", title="Triage")
    schema_content = replace(
        triage_content("Classify the ticket."), provider="local", model=model, max_tokens=MAX_TOKENS
    )
    plain_content = replace(schema_content, format="Answer with one word: the category.", output_schema=None)
    v1, _ = version_create(template=template, content=schema_content)
    v2, _ = version_create(template=template, content=plain_content)
    experiment = experiment_create(
        template=template,
        name="Schema or plain",
        variants=[VariantSpec(key="control", version=v1, is_control=True), VariantSpec(key="plain", version=v2)],
    )
    ScorerConfig.objects.create(experiment=experiment, kind="json_schema", name="schema", order=1)
    ScorerConfig.objects.create(
        experiment=experiment, kind="contains", name="names_a_category", order=2,
        config={"strings": ["billing", "technical", "account", "shipping", "other"], "mode": "any",
                "case_insensitive": True},
    )  # fmt: skip
    return experiment


@pytest.fixture
def ran_batch(acme, local_model, schema_and_plain):
    config, model = local_model
    batch = make_batch(schema_and_plain, tickets_dataset(acme, count=CASES), provider=config, model=model)
    return batch_run_inline(batch=batch)


def _items(batch, variant_key):
    return list(BatchItem.objects.filter(batch=batch, variant__key=variant_key).order_by("case__position"))


def test_every_call_to_the_real_model_finishes_with_an_answer_and_its_token_counts(ran_batch):
    assert ran_batch.status == Batch.Status.FINISHED
    items = list(BatchItem.objects.filter(batch=ran_batch))
    assert len(items) == ran_batch.total == 2 * CASES
    for item in items:
        assert item.status == BatchItem.Status.DONE, (item.error_kind, item.error)
        assert item.output.strip()
        assert item.input_tokens > 0
        assert 0 < item.output_tokens <= MAX_TOKENS
        assert item.scores


def test_the_schema_version_asks_for_json_object_and_gets_json_that_matches_its_schema(ran_batch, proxy):
    chats = [body for body in proxy.bodies if "messages" in body]
    assert len(chats) == 2 * CASES
    formats = [body.get("response_format") for body in chats]
    assert formats.count({"type": "json_object", "schema": SCHEMA}) == CASES
    assert formats.count(None) == CASES
    for item in _items(ran_batch, "control"):
        assert json.loads(item.output)["category"] in SCHEMA["properties"]["category"]["enum"]
        assert item.schema_passed is True


def test_the_report_compares_both_variants_on_real_results(ran_batch, schema_and_plain):
    report = experiment_report(experiment=schema_and_plain)
    assert report.offline.has_data
    assert report.offline.sample_sizes == {"control": CASES, "plain": CASES}
    metrics = {row.metric: row for row in report.offline.rows}
    assert {"task_success_rate", "schema_pass_rate", "input_tokens", "output_tokens"} <= set(metrics)
    for row in metrics.values():
        assert [cell.variant for cell in row.cells] == ["control", "plain"]
    for metric in ("input_tokens", "output_tokens"):
        assert all(cell.value > 0 for cell in metrics[metric].cells)
    assert report.verdict.state == VerdictState.COLLECTING_DATA
    assert f"{CASES} of the 30" in report.verdict.reason
