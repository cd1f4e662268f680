"""`http_ctx`: one shared client per app, opened at startup and closed at cleanup."""

from __future__ import annotations

from aiohttp import web
from pytest_aiohttp import AiohttpServer

from fedserver.http import HttpClient, http_ctx
from tests.fakes.resolver import FakeResolver

from .conftest import TEST_POLICY, Serve, app_with, document, url_of

http_client_key = web.AppKey("http_client", HttpClient)


async def test_http_ctx_stores_one_client_and_closes_it(
    aiohttp_server: AiohttpServer, serve: Serve, resolver: FakeResolver
) -> None:
    peers: list[object] = []

    async def note(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername"))
        return document(request)

    remote = await serve("remote.test", app_with({"/note": note}))

    app = web.Application()
    app.cleanup_ctx.append(http_ctx(TEST_POLICY, http_client_key, resolver))
    ours = await aiohttp_server(app)

    client = app[http_client_key]
    assert client.policy is TEST_POLICY
    url = url_of(remote, "remote.test", "/note")
    assert (await client.fetch_document(url))["id"] == url
    assert (await client.fetch_document(url))["id"] == url
    # Keep-alive: the second fetch came over the same connection (same client port).
    assert len(peers) == 2
    assert peers[0] == peers[1]

    await ours.close()
    assert client.closed
