"""Peers that misbehave on purpose, and a server that only counts who knocked.

`ScriptedPeer` is a `FakePeer` (same actors, keys and hand-made signatures) whose answer
for chosen paths is replaced by a script: a document with the wrong Content-Type or the
wrong id, a key document that lies about its owner, a server that answers after the
deadline or one byte per second. GETs of scripted paths are counted in `peer.gets` like
the peer's own, so "no fetch happened" stays one assertion.

`CountingServer` answers 200 to anything and records every request: it stands for an
internal service (cloud metadata, an admin port) that a refused URL must never reach.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.fakes.remote import ACTIVITY_JSON, FakePeer, Style
from tests.fakes.resolver import FakeResolver

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
StartServer = Callable[..., Awaitable[TestServer]]


class ScriptedPeer(FakePeer):
    """A FakePeer whose answers for the paths in `scripts` are replaced."""

    def __init__(self, domain: str, style: Style, clock: Callable[[], datetime]) -> None:
        super().__init__(domain, style, clock)
        self.scripts: dict[str, Handler] = {}
        #: Paths answered as usual, but only after this many seconds.
        self.delays: dict[str, float] = {}

        @web.middleware
        async def scripted(request: web.Request, handler: Handler) -> web.StreamResponse:
            script = self.scripts.get(request.path)
            if script is None:
                if request.path in self.delays:
                    await asyncio.sleep(self.delays[request.path])
                return await handler(request)
            if request.method == "GET":
                self.gets[request.path] += 1
            return await script(request)

        self.app.middlewares.append(scripted)

    def path(self, url: str) -> str:
        """The path part of one of this peer's URLs (a key id keeps no fragment)."""
        assert url.startswith(self.base_url + "/"), url
        return url.removeprefix(self.base_url).split("#", 1)[0]

    def delay(self, url: str, seconds: float) -> None:
        """Answer `url` as usual, `seconds` late (a slow but honest server)."""
        self.delays[self.path(url)] = seconds

    def script(self, url: str, handler: Handler) -> None:
        """Answer GETs (and anything else) of `url` with `handler`."""
        self.scripts[self.path(url)] = handler

    def serve(
        self,
        url: str,
        document: dict[str, Any] | Callable[[], dict[str, Any]],
        *,
        content_type: str | None = ACTIVITY_JSON,
        delay: float = 0.0,
    ) -> None:
        """Serve `document` (or what the callable returns at request time) at `url`."""
        self.script(url, serve_json(document, content_type=content_type, delay=delay))


def serve_json(
    document: dict[str, Any] | Callable[[], dict[str, Any]],
    *,
    content_type: str | None = ACTIVITY_JSON,
    delay: float = 0.0,
) -> Handler:
    """A handler answering `document` as JSON with `content_type` (None: no header)."""

    async def handler(request: web.Request) -> web.Response:
        if delay:
            await asyncio.sleep(delay)
        data = document() if callable(document) else document
        response = web.Response(body=json.dumps(data).encode())
        if content_type is None:
            # aiohttp would add application/octet-stream; send no Content-Type at all.
            response.headers.popall("Content-Type", None)
        else:
            response.headers["Content-Type"] = content_type
        return response

    return handler


def stall(seconds: float) -> Handler:
    """Answers nothing (not even a status line) for `seconds`."""

    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(seconds)
        return web.Response(status=204)

    return handler


def trickle(seconds: float) -> Handler:
    """Sends the headers at once, then one byte per second for `seconds` (slow loris)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": ACTIVITY_JSON})
        await response.prepare(request)
        await response.write(b"{")
        for _ in range(int(seconds)):
            await asyncio.sleep(1)
            await response.write(b" ")
        return response

    return handler


def huge(size: int, *, chunked: bool = False) -> Handler:
    """A well-formed AS2 document padded to `size` bytes, with a Content-Length or
    (`chunked`) without one, so only counting the bytes read can stop it."""

    async def handler(request: web.Request) -> web.StreamResponse:
        padding = "x" * size
        body = json.dumps({"id": str(request.url), "type": "Person", "padding": padding})
        if not chunked:
            return web.Response(body=body.encode(), headers={"Content-Type": ACTIVITY_JSON})
        response = web.StreamResponse(headers={"Content-Type": ACTIVITY_JSON})
        response.enable_chunked_encoding()
        await response.prepare(request)
        data = body.encode()
        try:
            for start in range(0, len(data), 64 * 1024):
                await response.write(data[start : start + 64 * 1024])
        except ConnectionResetError:
            pass  # the client gave up at its cap, as it should
        return response

    return handler


async def start_scripted_peer(
    aiohttp_server: StartServer,
    resolver: FakeResolver,
    clock: Callable[[], datetime],
    domain: str,
    style: Style,
    *actor_names: str,
) -> ScriptedPeer:
    """Like the `start_peer` fixture, for a ScriptedPeer reachable as http://<domain>."""
    peer = ScriptedPeer(domain, style, clock)
    for name in actor_names:
        peer.add_actor(name)
    server = await aiohttp_server(peer.app)
    assert server.port is not None
    resolver.hosts[domain] = server.port
    return peer


class CountingServer:
    """Answers 200 with an AS2-looking body to any request, and records each one.

    `start` it once per address it should listen on; `ports` maps each address to
    its port.
    """

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.ports: dict[str, int] = {}
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._any)

    @property
    def port(self) -> int:
        """The port on 127.0.0.1."""
        return self.ports["127.0.0.1"]

    async def _any(self, request: web.Request) -> web.Response:
        self.hits.append(f"{request.method} {request.host}{request.path_qs}")
        return web.json_response({"id": str(request.url), "type": "Person"})

    async def start(self, aiohttp_server: StartServer, *, host: str = "127.0.0.1") -> int:
        server = await aiohttp_server(self.app, host=host)
        assert server.port is not None
        self.ports[host] = server.port
        return server.port
