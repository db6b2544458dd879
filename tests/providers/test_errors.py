"""How both SDK-backed providers classify failures, against the wire-format stand-in (no patching)."""

import email.utils
import time

import pytest

from promptlib.providers import ChatRequest, ProviderError, provider_for

KINDS = ["openai", "anthropic"]
REQUEST = ChatRequest(model="standin", messages=[{"role": "user", "content": "Hello"}], max_tokens=20)


def _error(standin, kind, **config_fields) -> ProviderError:
    provider = provider_for(standin.provider_config(kind, **config_fields))
    with pytest.raises(ProviderError) as caught:
        provider.complete(REQUEST)
    return caught.value


@pytest.mark.parametrize("kind", KINDS)
def test_it_classifies_429_as_temporary_with_retry_after_seconds(standin, kind):
    standin.fail_next(1, status=429, retry_after=7)
    error = _error(standin, kind)
    assert (error.kind, error.status, error.permanent, error.retry_after) == ("rate_limit", 429, False, 7.0)


@pytest.mark.parametrize("kind", KINDS)
def test_it_reads_retry_after_given_as_an_http_date(standin, kind):
    standin.fail_next(1, status=429, retry_after=email.utils.formatdate(time.time() + 30, usegmt=True))
    error = _error(standin, kind)
    assert 25 <= error.retry_after <= 30


@pytest.mark.parametrize("kind", KINDS)
def test_it_prefers_retry_after_ms(standin, kind):
    standin.fail_next(1, status=429, retry_after=9, headers={"retry-after-ms": "1500"})
    assert _error(standin, kind).retry_after == 1.5


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [500, 503, 529])
def test_it_classifies_server_errors_as_temporary(standin, kind, status):
    standin.fail_next(1, status=status)
    error = _error(standin, kind)
    assert (error.kind, error.status, error.permanent) == ("server", status, False)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("status", "expected_kind"), [(400, "bad_request"), (401, "auth"), (403, "auth"), (404, "not_found")]
)
def test_it_classifies_client_errors_as_permanent(standin, kind, status, expected_kind):
    standin.fail_next(1, status=status)
    error = _error(standin, kind)
    assert (error.kind, error.status, error.permanent) == (expected_kind, status, True)


@pytest.mark.parametrize("kind", KINDS)
def test_it_classifies_a_hang_as_a_temporary_timeout(standin, kind):
    standin.hang_next(1, seconds=3)
    started = time.monotonic()
    error = _error(standin, kind, timeout_seconds=0.3)
    assert (error.kind, error.permanent) == ("timeout", False)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("kind", KINDS)
def test_it_classifies_a_refusal_as_permanent(standin, kind):
    standin.refuse_next()
    error = _error(standin, kind)
    assert (error.kind, error.permanent) == ("refusal", True)


@pytest.mark.parametrize("kind", KINDS)
def test_it_classifies_a_refused_connection_as_temporary(standin, kind):
    config = standin.provider_config(kind)
    standin.stop()  # nothing listens on the port any more
    with pytest.raises(ProviderError) as caught:
        provider_for(config).complete(REQUEST)
    assert (caught.value.kind, caught.value.permanent) == ("connection", False)


@pytest.mark.parametrize("kind", KINDS)
def test_it_leaves_retries_to_the_caller(standin, kind):
    standin.fail_next(3, status=500)
    _error(standin, kind)
    assert standin.stats()["requests"] == 1


def test_an_error_survives_pickling_with_its_classification():
    import pickle

    error = pickle.loads(pickle.dumps(ProviderError("slow down", "rate_limit", status=429, retry_after=2.5)))
    assert (error.message, error.kind, error.status, error.retry_after, error.permanent) == (
        "slow down", "rate_limit", 429, 2.5, False
    )  # fmt: skip
