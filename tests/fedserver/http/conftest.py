"""Fixtures for the guarded client: fake names, loopback servers, a fake signer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from fedserver.http import FetchPolicy, HttpClient, SchemeMemory, SignatureScheme
from tests.fakes.resolver import FakeResolver

#: Loopback servers are the only peers in tests, so the guard is off unless a test
#: turns it on; a short deadline keeps the slow-server tests short.
TEST_POLICY = FetchPolicy(allow_http=True, allow_private_addresses=True, timeout_seconds=2.0)

hits_key = web.AppKey("hits", list)


def counting_app() -> web.Application:
    """An app that answers 200 to anything and records every request it gets."""
    app = web.Application()
    app[hits_key] = []

    async def any_request(request: web.Request) -> web.Response:
        request.app[hits_key].append(f"{request.method} {request.path_qs}")
        return web.json_response({"id": str(request.url)}, content_type="text/plain")

    app.router.add_route("*", "/{tail:.*}", any_request)
    return app


def hits(server: TestServer) -> list[str]:
    assert server.app is not None
    hit_list: list[str] = server.app[hits_key]
    return hit_list


class Serve(Protocol):
    def __call__(
        self, name: str, app: web.Application, *, address: str = ...
    ) -> Awaitable[TestServer]: ...


class MakeClient(Protocol):
    def __call__(self, **policy: Any) -> Awaitable[HttpClient]: ...


@pytest.fixture
async def resolver() -> FakeResolver:
    """Names like `remote.test` for servers on loopback (created in the loop)."""
    return FakeResolver()


@pytest.fixture
async def serve(aiohttp_server: AiohttpServer, resolver: FakeResolver) -> Serve:
    """Start `app` on loopback and make `http://<name>:<port>/` reach it."""

    async def start(name: str, app: web.Application, *, address: str = "127.0.0.1") -> TestServer:
        server = await aiohttp_server(app, host=address)
        assert server.port is not None
        resolver.hosts[name] = (address, server.port)
        return server

    return start


@pytest.fixture
async def make_client(resolver: FakeResolver) -> AsyncIterator[MakeClient]:
    """Open a client on TEST_POLICY with some fields replaced; closed after the test."""
    clients: list[HttpClient] = []

    async def make(**policy: Any) -> HttpClient:
        client = HttpClient(
            replace(TEST_POLICY, **policy), resolver=resolver, schemes=SchemeMemory()
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def client(make_client: MakeClient) -> HttpClient:
    """A client on TEST_POLICY (private addresses and http allowed)."""
    return await make_client()


def url_of(server: TestServer, name: str, path: str = "/") -> str:
    return f"http://{name}:{server.port}{path}"


@dataclass
class FakeSigner:
    """Signs nothing: adds `X-Signed-With: <scheme>` and records every call."""

    calls: list[tuple[str, str, SignatureScheme]] = field(default_factory=list)
    headers_seen: list[dict[str, str]] = field(default_factory=list)

    def __call__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        scheme: SignatureScheme,
        /,
    ) -> dict[str, str]:
        self.calls.append((method, url, scheme))
        self.headers_seen.append(dict(headers))
        return {"X-Signed-With": scheme, "X-Signed-Url": url}


@pytest.fixture
def signer() -> FakeSigner:
    return FakeSigner()


AS_JSON = "application/activity+json"


def document(request: web.Request, **fields: Any) -> web.Response:
    """An AS2 document whose id is the URL it was requested at."""
    return web.json_response(
        {"id": str(request.url), "type": "Note", **fields}, content_type=AS_JSON
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def app_with(routes: Mapping[str, Handler], method: str = "GET") -> web.Application:
    """An app answering `method` on each path with its handler."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route(method, path, handler)
    return app
