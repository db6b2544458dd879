"""Structured output per provider: the response_format each setting sends through the real openai SDK,
and a server that refuses it (llama-cpp-python refuses json_schema), against the wire-format stand-in."""

import pytest

from promptlib.batches.models import BatchItem
from promptlib.batches.services import batch_run_inline, batch_start
from promptlib.providers import ChatRequest, ProviderError, provider_for
from promptlib.providers.limits import limiter_for
from tests.batches_support import SCHEMA, make_batch, standin_answer, standin_provider, tickets_dataset
from tests.standins.server import StandinServer

MESSAGES = [{"role": "user", "content": "Ticket: my invoice is wrong"}]
JSON_SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA}}
REFUSED_JSON_SCHEMA = "The server refused response_format json_schema; set the provider's structured output to "


def _complete(standin, schema=SCHEMA, **fields):
    provider = provider_for(standin.provider_config(**fields))
    return provider.complete(ChatRequest(model="standin", messages=MESSAGES, json_schema=schema))


def _llama_cpp_python(standin):
    """The stand-in answering as llama-cpp-python's server: json_schema refused with a 500."""
    standin.take_response_formats("text", "json_object")
    return standin


def test_json_schema_is_the_default_and_sends_the_schema_by_name(standin):
    _complete(standin)
    assert standin.stats()["response_formats"] == [JSON_SCHEMA_FORMAT]


def test_json_object_sends_json_mode_with_the_schema(standin):
    _complete(standin, structured_output="json_object")
    assert standin.stats()["response_formats"] == [{"type": "json_object", "schema": SCHEMA}]


def test_none_sends_no_response_format_and_keeps_the_messages(standin):
    _complete(standin, structured_output="none")
    assert standin.stats()["response_formats"] == [None]
    assert standin.stats()["bodies"][0]["messages"] == MESSAGES


@pytest.mark.parametrize("mode", ["json_schema", "json_object", "none"])
def test_a_version_without_a_schema_sends_no_response_format_in_any_mode(standin, mode):
    _complete(standin, schema=None, structured_output=mode)
    assert standin.stats()["response_formats"] == [None]


def test_a_server_refusing_json_schema_fails_permanently_naming_the_setting(standin):
    with pytest.raises(ProviderError) as caught:
        _complete(_llama_cpp_python(standin))
    error = caught.value
    assert (error.permanent, error.kind, error.status) == (True, "bad_request", 500)
    assert error.message.startswith(REFUSED_JSON_SCHEMA + "json_object or none.")
    assert "Input should be 'text' or 'json_object'" in error.message  # the server's own words follow


def test_a_server_refusing_json_schema_answers_in_json_object_mode(standin):
    response = _complete(_llama_cpp_python(standin), structured_output="json_object")
    assert response.text.startswith("Stand-in answer")


def test_a_server_refusing_json_schema_answers_in_none_mode(standin):
    response = _complete(_llama_cpp_python(standin), structured_output="none")
    assert response.text.startswith("Stand-in answer")


def test_a_400_naming_response_format_in_json_object_mode_names_the_other_choices(standin):
    standin.fail_next(1, status=400, message="'response_format.type' must be 'json_schema' or 'text'")
    with pytest.raises(ProviderError) as caught:
        _complete(standin, structured_output="json_object")
    assert caught.value.permanent
    assert caught.value.message.startswith(
        "The server refused response_format json_object; set the provider's structured output to json_schema or none."
    )


def test_a_server_error_not_about_response_format_stays_temporary(standin):
    standin.fail_next(1, status=500, message="CUDA out of memory")
    with pytest.raises(ProviderError) as caught:
        _complete(standin)
    assert (caught.value.permanent, caught.value.kind) == (False, "server")


def test_an_error_naming_response_format_is_not_blamed_on_the_setting_when_none_was_sent(standin):
    standin.fail_next(1, status=500, message="response_format handler crashed")
    with pytest.raises(ProviderError) as caught:
        _complete(standin, structured_output="none")
    assert (caught.value.permanent, caught.value.kind) == (False, "server")
    assert "structured output" not in caught.value.message


def test_a_rate_limit_naming_response_format_stays_a_rate_limit(standin):
    standin.fail_next(1, status=429, retry_after=1, message="Too many response_format requests")
    with pytest.raises(ProviderError) as caught:
        _complete(standin)
    assert (caught.value.permanent, caught.value.kind, caught.value.retry_after) == (False, "rate_limit", 1.0)


# --- through a batch: one request per item, no retries --------------------------------------------


@pytest.fixture
def llama_server():
    with StandinServer(latency=0.01, answer=standin_answer) as server:
        yield _llama_cpp_python(server)


def _batch_of_three(acme, experiment, server, **fields):
    provider = standin_provider(acme, server, **fields)
    limiter_for(provider).reset()
    dataset = tickets_dataset(acme, count=3, name="three")
    batch = make_batch(experiment, dataset, provider=provider, model="standin", variant_keys=["b"])
    return batch_run_inline(batch=batch_start(batch=batch))


@pytest.mark.django_db
def test_a_refused_response_format_fails_each_item_after_one_request(acme, triage_experiment, llama_server):
    batch = _batch_of_three(acme, triage_experiment, llama_server)
    items = list(batch.items.all())
    assert llama_server.stats()["requests"] == len(items) == 3  # max_retries is 3: none was used
    assert {(item.status, item.attempts, item.error_kind) for item in items} == {
        (BatchItem.Status.FAILED, 1, "bad_request")
    }
    assert all(REFUSED_JSON_SCHEMA + "json_object or none." in item.error for item in items)


@pytest.mark.django_db
def test_the_same_batch_succeeds_in_json_object_mode(acme, triage_experiment, llama_server):
    batch = _batch_of_three(acme, triage_experiment, llama_server, structured_output="json_object")
    assert {(item.status, item.schema_passed) for item in batch.items.all()} == {(BatchItem.Status.DONE, True)}
    assert llama_server.stats()["response_formats"] == [{"type": "json_object", "schema": SCHEMA}] * 3
