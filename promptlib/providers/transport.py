"""HTTP transports whose connections go only to addresses the outbound policy allows, checked as they open.

The check before each call (policy.call_check) resolves the provider's name, and the SDK's HTTP library
would resolve it again to connect: a name that answers differently the second time (DNS rebinding)
could lead the call, with its key, to a refused address. Here the connection resolves once, checks
every address, and connects to one of those checked addresses. (With a proxy from the environment,
the proxy resolves the name; the policy then applies to the check before the call.)
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from promptlib.core.outbound import OutboundRefusedError
from promptlib.providers.policy import connect_addresses


@functools.cache
def _backend_class(httpcore: ModuleType) -> type:
    class CheckedBackend(httpcore.SyncBackend):
        def connect_tcp(self, host: str, port: int, timeout=None, local_address=None, socket_options=None):
            try:
                addresses = connect_addresses(host, port)
            except OutboundRefusedError as refusal:
                # As the HTTP library's own error, which the SDKs turn into a connection error;
                # providers.base.error_from_sdk finds the refusal in its causes.
                raise httpcore.ConnectError(refusal.message) from refusal
            error = None
            for address in addresses:
                try:
                    return super().connect_tcp(
                        str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                    )
                except httpcore.ConnectError as exc:  # the next address, as socket.create_connection does
                    error = exc
            raise error or httpcore.ConnectError(f"{host} has no address.")

    return CheckedBackend


def checked_transport(httpx: ModuleType, httpcore: ModuleType, *, verify: Any, limits: Any) -> Any:
    """An `httpx.HTTPTransport` (or httpx2's, for anthropic) connecting only to checked addresses."""
    transport = httpx.HTTPTransport(verify=verify, limits=limits)
    # HTTPTransport takes no network backend: its pool's is replaced (pinned httpx/httpcore versions;
    # tests/providers/test_transport.py fails if this stops taking effect).
    transport._pool._network_backend = _backend_class(httpcore)()
    return transport
