"""A resolver that sends test hostnames to servers on loopback.

From aiohttp's `examples/fake_server.py`: aiohttp's TCPConnector connects to the host
*and port* a resolver returns, so `https://remote.test/` can reach a test server on
127.0.0.1:<random port>. Unknown names fail like a DNS miss: no test reaches the
internet. Create it inside a running loop (an async fixture).
"""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver, ResolveResult


class FakeResolver(AbstractResolver):
    """`hosts` maps a name to a port on 127.0.0.1, or to an (address, port) pair."""

    def __init__(self, hosts: dict[str, int | tuple[str, int]] | None = None) -> None:
        self.hosts: dict[str, int | tuple[str, int]] = {} if hosts is None else hosts
        #: Every name asked for, in order (to prove a name was or was not resolved).
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        target = self.hosts.get(host.rstrip(".").lower())
        if target is None:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} is not a fake host")
        address, fake_port = ("127.0.0.1", target) if isinstance(target, int) else target
        return [
            {
                "hostname": host,
                "host": address,
                "port": fake_port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass
