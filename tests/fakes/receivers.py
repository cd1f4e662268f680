"""Fake inboxes: real aiohttp apps on loopback that record every POST and answer as told.

A `FakeReceiver` stands for one remote host. It accepts POSTs on any path, records them
(raw headers and body, so a test can verify the signature with
`fedserver.signatures.verify_request`), and answers 202 unless a reply was scripted:
`receiver.script("/inbox", Reply(503, {"Retry-After": "120"}), Reply(202))` answers the
next two POSTs to /inbox with 503 then 202, and the default after that. A host that is
down is a name in the FakeResolver pointing at `closed_port()`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

from fedserver.signatures import PublicKey, SignedRequest, verify_request


@dataclass(frozen=True)
class Reply:
    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Received:
    """One POST as it arrived."""

    path: str
    #: Raw (name, value) pairs, duplicates included.
    headers: tuple[tuple[str, str], ...]
    body: bytes
    #: When it arrived (time.monotonic()).
    at: float = field(default_factory=time.monotonic)

    @property
    def activity_id(self) -> str:
        activity_id = json.loads(self.body)["id"]
        assert isinstance(activity_id, str)
        return activity_id

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def verify(self, public_key: PublicKey, *, now: datetime) -> SignedRequest:
        """Verify the signature as the receiving server would (raises if invalid)."""
        host = self.header("Host")
        assert host is not None
        return verify_request(
            "POST",
            self.path,
            self.headers,
            self.body,
            host=host,
            target_uri=f"http://{host}{self.path}",
            public_key=public_key,
            now=now,
        )


class Gauge:
    """Counts requests being answered at once, and the most ever seen (share one
    between receivers to see the total)."""

    def __init__(self) -> None:
        self.current = 0
        self.peak = 0

    def enter(self) -> None:
        self.current += 1
        self.peak = max(self.peak, self.current)

    def leave(self) -> None:
        self.current -= 1


class FakeReceiver:
    """A remote host's inboxes. `latency` (seconds) delays every answer; `gauges`
    (besides its own `concurrency`) count requests in progress."""

    def __init__(
        self, *, latency: float = 0.0, default: Reply | None = None, gauges: tuple[Gauge, ...] = ()
    ) -> None:
        self.latency = latency
        self.default = default or Reply(202)
        self.received: list[Received] = []
        self.concurrency = Gauge()
        self._gauges = (self.concurrency, *gauges)
        self._scripts: defaultdict[str, deque[Reply]] = defaultdict(deque)
        self.app = web.Application()
        self.app.router.add_post("/{tail:.*}", self._inbox)

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next POSTs to `path` with `replies`, in order."""
        self._scripts[path].extend(replies)

    def paths(self) -> list[str]:
        return [item.path for item in self.received]

    async def _inbox(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Received(request.raw_path, tuple(request.headers.items()), body))
        for gauge in self._gauges:
            gauge.enter()
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
        finally:
            for gauge in self._gauges:
                gauge.leave()
        queue = self._scripts.get(request.raw_path)
        reply = queue.popleft() if queue else self.default
        return web.Response(status=reply.status, headers=reply.headers)


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
