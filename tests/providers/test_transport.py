"""Connections open only to addresses the outbound policy allows, checked as they open (no DNS rebinding)."""

import socket

import pytest

from promptlib.providers import ChatRequest, ProviderError

MESSAGES = [{"role": "user", "content": "hello"}]
PUBLIC = "93.184.216.34"


@pytest.fixture
def rebinding_dns(monkeypatch):
    """`rebind.example` answers a public address to the first lookup, then loopback (an attacker's DNS)."""
    real = socket.getaddrinfo
    answers = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        address = PUBLIC if not answers else "127.0.0.1"
        answers.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_name_that_rebinds_to_loopback_after_the_check_is_refused_as_the_connection_opens(
    kind, standin, rebinding_dns, settings
):
    settings.PROMPTLIB_ALLOW_LOOPBACK = False
    path = "/v1" if kind == "openai" else ""
    config = standin.provider_config(kind, base_url=f"http://rebind.example:{standin.port}{path}", api_key_env="")
    config.api_key_encrypted = ""
    provider = provider_for_key(config)
    with pytest.raises(ProviderError) as caught:
        provider.complete(ChatRequest(model="m", messages=MESSAGES))
    assert caught.value.kind == "refused" and caught.value.permanent, caught.value.message
    assert "rebind.example resolves to 127.0.0.1" in caught.value.message
    assert rebinding_dns[:2] == [PUBLIC, "127.0.0.1"]  # checked before the call, then as it connected
    assert standin.stats()["requests"] == 0  # nothing, and no key, reached the loopback server


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_connections_go_to_the_address_that_was_checked(kind, standin, monkeypatch):
    looked_up = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        looked_up.append(host)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    config = standin.provider_config(kind)
    config.base_url = config.base_url.replace("127.0.0.1", "localhost")
    response = provider_for_key(config).complete(ChatRequest(model="m", messages=MESSAGES))
    assert response.text.startswith("Stand-in answer")
    # One lookup by the check before the call, one by the connection's check; the socket connects to
    # an address literal, so the HTTP library looks nothing up itself.
    assert looked_up.count("localhost") == 2


def provider_for_key(config):
    from promptlib.providers.registry import provider_class

    return provider_class(config.kind)(config=config, api_key="sk-test")
