"""Bounds: one total deadline per call, and byte caps counted after decompression."""

from __future__ import annotations

import asyncio
import gzip
import time

import pytest
from aiohttp import web

from fedserver.errors import FetchError
from fedserver.http import HttpClient

from .conftest import FakeSigner, Handler, MakeClient, Serve, app_with, url_of

DEADLINE = 0.5
AS_JSON = "application/activity+json"
MIB = 1024 * 1024


async def trickle(request: web.Request) -> web.StreamResponse:
    """Headers at once, then one byte per second, forever (a slow-loris body)."""
    response = web.StreamResponse(headers={"Content-Type": AS_JSON})
    await response.prepare(request)
    for _ in range(60):
        await response.write(b" ")
        await asyncio.sleep(1)
    return response


async def stall(request: web.Request) -> web.StreamResponse:
    """Never answers: not even the status line."""
    await asyncio.sleep(60)
    return web.Response()


async def redirect_then_trickle(request: web.Request) -> web.StreamResponse:
    if request.path == "/start":
        await asyncio.sleep(DEADLINE * 0.6)
        raise web.HTTPFound("/slow")
    await asyncio.sleep(DEADLINE * 0.6)
    return web.json_response({"id": str(request.url)}, content_type=AS_JSON)


@pytest.mark.parametrize(
    ("handler", "path"),
    [(trickle, "/start"), (stall, "/start"), (redirect_then_trickle, "/start")],
    ids=["one-byte-per-second", "no-headers", "deadline-spans-redirects"],
)
async def test_slow_server_is_cut_at_the_total_deadline(
    serve: Serve, make_client: MakeClient, handler: Handler, path: str
) -> None:
    server = await serve("slow.test", app_with({"/start": handler, "/slow": handler}))
    client = await make_client(timeout_seconds=DEADLINE)
    url = url_of(server, "slow.test", path)

    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        await client.fetch_document(url)
    elapsed = time.monotonic() - started

    assert str(caught.value) == f"GET {url} timed out after 0.5 s"
    assert DEADLINE * 0.9 < elapsed < DEADLINE + 0.4


async def test_slow_inbox_is_cut_at_the_deadline(
    serve: Serve, make_client: MakeClient, signer: FakeSigner
) -> None:
    server = await serve("slow.test", app_with({"/inbox": stall}, "POST"))
    client = await make_client(timeout_seconds=DEADLINE)
    with pytest.raises(FetchError, match=r"timed out after 0\.5 s"):
        await client.post_activity(url_of(server, "slow.test", "/inbox"), b"{}", signer=signer)


async def test_declared_oversize_body_fails_before_reading(
    serve: Serve, client: HttpClient
) -> None:
    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b" " * (2 * MIB), content_type=AS_JSON)

    server = await serve("remote.test", app_with({"/big": big}))
    with pytest.raises(FetchError) as caught:
        await client.fetch_document(url_of(server, "remote.test", "/big"))
    assert str(caught.value) == (
        "response declares 2,097,152 bytes (Content-Length), over the 1,048,576-byte limit"
    )


async def test_undeclared_oversize_body_is_cut_at_the_cap(serve: Serve, client: HttpClient) -> None:
    """Chunked, no Content-Length: the stream itself is counted, and stops there."""

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": AS_JSON})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for _ in range(64):  # up to 64 MiB if nobody stops reading
                await response.write(b" " * MIB)
        except (ConnectionError, RuntimeError):
            pass
        return response

    server = await serve("remote.test", app_with({"/big": endless}))
    with pytest.raises(FetchError) as caught:
        await client.fetch_document(url_of(server, "remote.test", "/big"))
    assert str(caught.value) == "response exceeded 1,048,576 bytes"


async def test_content_length_that_lies_low_is_not_trusted(
    serve: Serve, client: HttpClient
) -> None:
    """A declared length under the cap ends the body: nothing past it is read."""

    async def liar(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": AS_JSON, "Content-Length": "10"})
        await response.prepare(request)
        await response.write(b'{"id": 1}' + b" " * (2 * MIB))
        return response

    server = await serve("remote.test", app_with({"/doc": liar}))
    with pytest.raises(FetchError, match="does not match requested URL"):
        await client.fetch_document(url_of(server, "remote.test", "/doc"))


async def test_gzip_bomb_is_capped_after_decompression(serve: Serve, client: HttpClient) -> None:
    bomb = gzip.compress(b" " * (16 * MIB), compresslevel=9)
    assert len(bomb) < 50_000  # small on the wire, under any Content-Length check

    async def bombing(request: web.Request) -> web.Response:
        response = web.Response(body=bomb, content_type=AS_JSON)
        response.headers["Content-Encoding"] = "gzip"
        return response

    server = await serve("remote.test", app_with({"/doc": bombing}))
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        await client.fetch_document(url_of(server, "remote.test", "/doc"))
    assert str(caught.value) == "response exceeded 1,048,576 bytes"
    assert time.monotonic() - started < 1.0  # stopped early, not after 16 MiB


async def test_small_gzip_document_is_read(serve: Serve, client: HttpClient) -> None:
    async def zipped(request: web.Request) -> web.Response:
        body = gzip.compress(b'{"id": "%s"}' % str(request.url).encode())
        response = web.Response(body=body, content_type=AS_JSON)
        response.headers["Content-Encoding"] = "gzip"
        return response

    server = await serve("remote.test", app_with({"/doc": zipped}))
    url = url_of(server, "remote.test", "/doc")
    assert (await client.fetch_document(url))["id"] == url


async def test_media_cap_is_separate_from_the_document_cap(
    serve: Serve, make_client: MakeClient
) -> None:
    async def image(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * (2 * MIB), content_type="image/png")

    server = await serve("remote.test", app_with({"/a.png": image}))
    url = url_of(server, "remote.test", "/a.png")

    roomy = await make_client(max_response_bytes=4 * MIB)
    assert len((await roomy.fetch_bytes(url)).body) == 2 * MIB

    tight = await make_client(max_response_bytes=MIB)
    with pytest.raises(FetchError, match="over the 1,048,576-byte limit"):
        await tight.fetch_bytes(url)
