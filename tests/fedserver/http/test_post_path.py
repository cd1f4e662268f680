"""The delivery POST's fast path: start URLs parsed and checked once (refusals never
cached, redirect hops checked on every delivery), the answer's prefix, one deadline."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from aiohttp import web

from fedserver.errors import FetchError, FetchRefused
from fedserver.http import DELIVERY_BODY_PREFIX_BYTES, HttpClient
from fedserver.http import client as client_module

from .conftest import FakeSigner, MakeClient, Serve, app_with, counting_app, hits, url_of

PEER_ADDRESS = "127.0.0.2"
ALLOW_PEER = {
    "allow_private_addresses": False,
    "allowed_private_networks": (ipaddress.ip_network(f"{PEER_ADDRESS}/32"),),
}


async def test_a_refused_inbox_is_refused_on_every_delivery(
    serve: Serve, make_client: MakeClient, signer: FakeSigner
) -> None:
    counter = await serve("evil.test", counting_app())
    client = await make_client(allow_private_addresses=False)
    url = f"http://127.0.0.1:{counter.port}/inbox"
    for _ in range(2):
        with pytest.raises(FetchRefused, match="loopback address"):
            await client.post_activity(url, b"{}", signer=signer)
    assert hits(counter) == []
    assert url not in client._targets


async def test_redirect_hops_are_checked_on_every_delivery(
    serve: Serve, make_client: MakeClient, signer: FakeSigner
) -> None:
    """The start URL is cached once checked; where it redirects to is not."""
    counter = await serve("evil.test", counting_app())
    moves = 0

    async def inbox(request: web.Request) -> web.Response:
        nonlocal moves
        moves += 1
        if moves == 1:
            return web.Response(status=202)
        raise web.HTTPTemporaryRedirect(f"http://127.0.0.1:{counter.port}/inbox")

    peer = await serve("remote.test", app_with({"/inbox": inbox}, "POST"), address=PEER_ADDRESS)
    client = await make_client(**ALLOW_PEER)
    url = url_of(peer, "remote.test", "/inbox")
    assert (await client.post_activity(url, b"{}", signer=signer)).status == 202
    for _ in range(2):
        with pytest.raises(FetchRefused, match="loopback address"):
            await client.post_activity(url, b"{}", signer=signer)
    assert hits(counter) == []
    assert [call[1] for call in signer.calls] == [url] * 3  # never signed for loopback


async def test_start_url_cache_is_bounded(
    client: HttpClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "_TARGET_CACHE_SIZE", 3)
    for n in range(10):
        target = client._start_url(f"http://host{n}.test/inbox#frag")
        assert (target.text, target.written) == (f"http://host{n}.test/inbox",) * 2
    assert list(client._targets) == [f"http://host{n}.test/inbox#frag" for n in (7, 8, 9)]


@pytest.mark.parametrize(
    ("chunks", "prefix"),
    [
        ([], ""),
        ([b"abc"], "abc"),
        ([b"abc", b"def"], "abcdef"),
        ([b"x" * 700, b"y" * 700], "x" * 700 + "y" * (DELIVERY_BODY_PREFIX_BYTES - 700)),
    ],
)
async def test_answer_prefix_is_read_across_chunks(
    serve: Serve, client: HttpClient, signer: FakeSigner, chunks: list[bytes], prefix: str
) -> None:
    async def inbox(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=202)
        await response.prepare(request)
        for chunk in chunks:
            await response.write(chunk)
            await asyncio.sleep(0.01)
        await response.write_eof()
        return response

    server = await serve("remote.test", app_with({"/inbox": inbox}, "POST"))
    result = await client.post_activity(
        url_of(server, "remote.test", "/inbox"), b"{}", signer=signer, connect_timeout=1.0
    )
    assert (result.status, result.body_prefix) == (202, prefix)


async def test_a_body_that_stalls_past_the_deadline_keeps_the_status(
    serve: Serve, make_client: MakeClient, signer: FakeSigner
) -> None:
    async def inbox(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=503)
        await response.prepare(request)
        await response.write(b"partial")
        await asyncio.sleep(5)
        return response

    server = await serve("remote.test", app_with({"/inbox": inbox}, "POST"))
    client = await make_client(timeout_seconds=0.3)
    result = await client.post_activity(
        url_of(server, "remote.test", "/inbox"), b"{}", signer=signer, connect_timeout=1.0
    )
    assert result.status == 503


async def test_an_unanswered_post_times_out_at_the_deadline(
    serve: Serve, make_client: MakeClient, signer: FakeSigner
) -> None:
    async def inbox(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(status=202)

    server = await serve("remote.test", app_with({"/inbox": inbox}, "POST"))
    client = await make_client(timeout_seconds=0.3)
    url = url_of(server, "remote.test", "/inbox")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(FetchError, match=r"timed out after 0\.3 s"):
        await client.post_activity(url, b"{}", signer=signer, connect_timeout=1.0)
    assert loop.time() - started < 2.0
