"""Where the server may send requests: the outbound policy for provider calls (and, later, webhooks).

    url_check(url, field="base_url", allowed=settings.PROMPTLIB_PROVIDER_HOSTS,
              allow_loopback=settings.PROMPTLIB_ALLOW_LOOPBACK)

Only http(s). The host is resolved and every address it resolves to is checked: link-local and cloud
metadata addresses are always refused; loopback only when `allow_loopback` (a local Ollama in
development) or listed; private and other non-public ranges only when listed in `allowed` (hostnames,
exact or ".suffix", and CIDRs). Checked when a URL is saved, right before each call, and when a
connection opens: `addresses_check` resolves once and the connection goes to the addresses it
checked (promptlib/providers/transport.py), so a name that resolves elsewhere later (DNS rebinding)
never reaches a refused address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from promptlib.core.errors import DomainError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Never reachable, whatever the operator lists: instance metadata and link-local services.
ALWAYS_REFUSED = tuple(
    ipaddress.ip_network(net) for net in ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundRefusedError(DomainError):
    code = "outbound_refused"


class UnresolvableError(OutboundRefusedError):
    code = "unresolvable"


def url_check(
    url: str,
    *,
    field: str = "url",
    allowed: Iterable[str] = (),
    allow_loopback: bool = False,
    allow_unresolved: bool = False,
) -> None:
    """Refuse (OutboundRefusedError naming `field`) a URL this server must not call.

    `allow_unresolved`: a name that does not resolve now passes (saving a provider while offline);
    the check before each call does not pass it.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise OutboundRefusedError("Only http:// and https:// addresses may be called.", field=field)
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise OutboundRefusedError("The address has no host name.", field=field)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise OutboundRefusedError("The address has an invalid port.", field=field) from None
    addresses_check(host, port, field=field, allowed=allowed, allow_loopback=allow_loopback,
                    allow_unresolved=allow_unresolved)  # fmt: skip


def addresses_check(
    host: str,
    port: int,
    *,
    field: str = "url",
    allowed: Iterable[str] = (),
    allow_loopback: bool = False,
    allow_unresolved: bool = False,
) -> list[IPAddress]:
    """What `host` resolves to now, each address checked (OutboundRefusedError naming `field` if one is refused)."""
    allowed = list(allowed)
    addresses = host_addresses(host, port, allow_unresolved=allow_unresolved, field=field)
    for address in addresses:
        problem = address_problem(address, listed=host_listed(host, allowed, address), allow_loopback=allow_loopback)
        if problem:
            where = f"{host} is" if host.strip("[]") == str(address) else f"{host} resolves to {address},"
            raise OutboundRefusedError(f"{where} {problem}", field=field)
    return addresses


def host_listed(host: str, allowed: Iterable[str], address: IPAddress | None = None) -> bool:
    """Whether the operator lists `host` by name (exact, or ".suffix") or its address by CIDR."""
    host = host.strip("[]").rstrip(".").lower()
    address = address if address is not None else _literal(host)
    for entry in (entry.strip().lower() for entry in allowed):
        if entry and (host == entry or (entry.startswith(".") and host.endswith(entry))):
            return True
        network = _network(entry) if address is not None and entry else None
        if network is not None and network.version == address.version and address in network:
            return True
    return False


def address_problem(address: IPAddress, *, listed: bool, allow_loopback: bool) -> str:
    """Why this server must not call `address` ("" when it may)."""
    address = _embedded_ipv4(address)
    if address.is_unspecified:
        return "the unspecified address, which is never called."
    if any(address in net for net in ALWAYS_REFUSED if net.version == address.version) or address.is_link_local:
        return "a link-local or cloud metadata address, which is never called."
    if address.is_loopback:  # before "reserved": ::1 lies in IPv6's reserved ::/8
        if listed or allow_loopback:
            return ""
        return "a loopback address: the operator allows it with PROMPTLIB_ALLOW_LOOPBACK or PROMPTLIB_PROVIDER_HOSTS."
    if address.is_multicast or address.is_reserved:
        return "a multicast or reserved address, which is never called."
    if not address.is_global and not listed:
        return "a private address: the operator allows it by listing it in PROMPTLIB_PROVIDER_HOSTS."
    return ""


def host_addresses(host: str, port: int, *, allow_unresolved: bool = False, field: str = "url") -> list[IPAddress]:
    """The addresses `host` stands for: itself when it is an IP literal, else what DNS answers now."""
    literal = _literal(host.strip("[]"))
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        if allow_unresolved:
            return []
        raise UnresolvableError(f"{host} does not resolve.", field=field) from None
    # The scope of a link-local IPv6 answer ("fe80::1%eth0") goes: the address alone decides.
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64): it is where the packets end up."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None
