"""The address guard at connect time: a resolver that never returns a refused address.

aiohttp's TCPConnector connects to exactly the hosts and ports its resolver returns, so
checking here (after DNS, in the same call that picks the socket address) leaves no
window for DNS rebinding between check and connect (SECURITY.md R7; Mastodon
CVE-2026-22245, microblog.pub's resolve-then-connect gap). IP literals never reach a
resolver: `fedserver.http.addresses.check_url` refuses them first.
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from fedserver.errors import FetchRefused

from .addresses import refusal_for_address
from .policy import FetchPolicy


class GuardedResolver(AbstractResolver):
    """Wraps any resolver and drops every address the policy refuses.

    Raises FetchRefused when nothing is left, so no connection is attempted.
    """

    def __init__(self, policy: FetchPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._owns_inner = inner is None
        self._inner: AbstractResolver = DefaultResolver() if inner is None else inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self._policy.allow_private_addresses:
            return results
        allowed: list[ResolveResult] = []
        reasons: list[str] = []
        for result in results:
            try:
                address = ipaddress.ip_address(result["host"])
            except ValueError:
                reasons.append(f"{result['host']!r} is not an IP address")
                continue
            reason = refusal_for_address(address, self._policy)
            if reason is None:
                allowed.append(result)
            else:
                reasons.append(reason)
        if not allowed:
            detail = "; ".join(reasons) or "no addresses"
            raise FetchRefused(f"refused: {host} resolves to no public address ({detail})")
        return allowed

    async def close(self) -> None:
        # A resolver passed in (a test's fake) belongs to whoever passed it.
        if self._owns_inner:
            await self._inner.close()
