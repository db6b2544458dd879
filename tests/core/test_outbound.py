"""The outbound policy: which addresses this server may call (providers now, webhooks later)."""

import socket

import pytest

from promptlib.core.outbound import OutboundRefusedError, UnresolvableError, url_check


def _resolving(monkeypatch, mapping):
    def fake(host, port, *args, **kwargs):
        if host not in mapping:
            raise socket.gaierror(f"no such host {host}")
        family = socket.AF_INET6 if ":" in mapping[host] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (mapping[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "ftp://example.com/x"])
def test_only_http_and_https_are_called(url):
    with pytest.raises(OutboundRefusedError, match="Only http"):
        url_check(url, allow_loopback=True, allowed=["0.0.0.0/0"])


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://100.100.100.200/latest/meta-data/",
    ],
)
def test_metadata_and_link_local_addresses_are_refused_even_when_listed(url):
    with pytest.raises(OutboundRefusedError, match="never called") as caught:
        url_check(url, field="base_url", allowed=["0.0.0.0/0", "::/0", "169.254.169.254"], allow_loopback=True)
    assert caught.value.field == "base_url"


def test_a_name_resolving_to_metadata_is_refused(monkeypatch):
    _resolving(monkeypatch, {"metadata.attacker.example": "169.254.169.254"})
    with pytest.raises(OutboundRefusedError, match="169.254.169.254"):
        url_check("https://metadata.attacker.example/v1", allowed=["metadata.attacker.example"])


@pytest.mark.parametrize("url", ["http://127.0.0.1:11434/v1", "http://[::1]:8000/", "http://localhost:11434/v1"])
def test_loopback_is_refused_unless_allowed(url):
    with pytest.raises(OutboundRefusedError, match="loopback"):
        url_check(url, allow_loopback=False)
    url_check(url, allow_loopback=True)


def test_loopback_may_be_allowed_by_listing_it():
    url_check("http://127.0.0.1:11434/v1", allowed=["127.0.0.0/8"])


def test_the_unspecified_address_is_refused_even_with_loopback_allowed():
    with pytest.raises(OutboundRefusedError, match="unspecified"):
        url_check("http://0.0.0.0:8000/", allow_loopback=True)


@pytest.mark.parametrize(
    "url", ["http://10.0.0.5/v1", "http://192.168.1.20:8000/v1", "http://100.64.0.1/", "http://[fd12::1]/"]
)
def test_private_addresses_are_refused_unless_listed(url):
    with pytest.raises(OutboundRefusedError, match="private"):
        url_check(url, allow_loopback=True)


def test_a_private_address_in_a_listed_range_is_allowed():
    url_check("http://10.0.0.5/v1", allowed=["10.0.0.0/8"])


def test_a_listed_host_name_allows_what_it_resolves_to(monkeypatch):
    _resolving(monkeypatch, {"vllm.internal.example": "10.1.2.3"})
    with pytest.raises(OutboundRefusedError, match="private"):
        url_check("http://vllm.internal.example/v1")
    url_check("http://vllm.internal.example/v1", allowed=["vllm.internal.example"])
    url_check("http://vllm.internal.example/v1", allowed=[".internal.example"])


def test_a_public_address_is_allowed(monkeypatch):
    _resolving(monkeypatch, {"api.openai.example": "93.184.216.34"})
    url_check("https://api.openai.example/v1")
    url_check("https://93.184.216.34/v1")


def test_a_name_that_does_not_resolve_is_refused_unless_told_to_let_it_pass(monkeypatch):
    _resolving(monkeypatch, {})
    with pytest.raises(UnresolvableError):
        url_check("https://nowhere.example/v1")
    url_check("https://nowhere.example/v1", allow_unresolved=True)


def test_any_resolved_address_that_is_refused_refuses_the_url(monkeypatch):
    def fake(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(OutboundRefusedError):
        url_check("https://rebinding.example/v1")


def test_an_ip_literal_host_is_listed_by_its_range():
    from promptlib.core.outbound import host_listed

    assert host_listed("10.0.0.5", ["10.0.0.0/8"])
    assert host_listed("vllm.lan", [".lan"]) and not host_listed("evil-lan", [".lan"])
    assert not host_listed("10.0.0.5", ["192.168.0.0/16", "vllm.lan"])
