"""Redirects: by hand, counted, re-checked, re-signed; documents stay on their host."""

from __future__ import annotations

import pytest
from aiohttp import web

from fedserver.errors import FetchError, FetchRefused
from fedserver.http import HttpClient

from .conftest import (
    FakeSigner,
    MakeClient,
    Serve,
    app_with,
    counting_app,
    document,
    hits,
    url_of,
)


def chain_app() -> web.Application:
    """/hop/N redirects to /hop/N-1 (relative Location); /hop/0 is a document."""

    async def hop(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n == 0:
            return document(request)
        raise web.HTTPFound(f"/hop/{n - 1}")

    return app_with({"/hop/{n}": hop})


async def test_two_redirects_are_followed_and_the_id_is_the_final_url(
    serve: Serve, client: HttpClient
) -> None:
    server = await serve("remote.test", chain_app())
    doc = await client.fetch_document(url_of(server, "remote.test", "/hop/2"))
    assert doc["id"] == url_of(server, "remote.test", "/hop/0")


async def test_three_redirects_are_refused_with_max_two(serve: Serve, client: HttpClient) -> None:
    server = await serve("remote.test", chain_app())
    with pytest.raises(FetchRefused, match=r"^refused: more than 2 redirects"):
        await client.fetch_document(url_of(server, "remote.test", "/hop/3"))


async def test_zero_redirects_allowed_refuses_the_first(
    serve: Serve, make_client: MakeClient
) -> None:
    server = await serve("remote.test", chain_app())
    client = await make_client(max_redirects=0)
    with pytest.raises(FetchRefused, match="more than 0 redirects"):
        await client.fetch_document(url_of(server, "remote.test", "/hop/1"))


async def test_signer_is_called_for_every_hop_with_that_hops_url(
    serve: Serve, client: HttpClient, signer: FakeSigner
) -> None:
    seen: list[tuple[str | None, str | None]] = []

    async def hop(request: web.Request) -> web.Response:
        seen.append((request.headers.get("X-Signed-Url"), request.headers.get("Host")))
        n = int(request.match_info["n"])
        if n == 0:
            return document(request)
        raise web.HTTPMovedPermanently(f"/hop/{n - 1}")

    server = await serve("remote.test", app_with({"/hop/{n}": hop}))
    urls = [url_of(server, "remote.test", f"/hop/{n}") for n in (2, 1, 0)]

    await client.fetch_document(urls[0], signer=signer)

    assert signer.calls == [("GET", url, "cavage") for url in urls]
    assert seen == [(url, f"remote.test:{server.port}") for url in urls]
    # The signer sees the headers that are sent, Host and Accept included.
    assert signer.headers_seen[0]["Host"] == f"remote.test:{server.port}"
    assert signer.headers_seen[0]["Accept"].startswith("application/activity+json")


async def test_unsigned_fetch_sends_no_signature(serve: Serve, client: HttpClient) -> None:
    received: list[str | None] = []

    async def note(request: web.Request) -> web.Response:
        received.append(request.headers.get("X-Signed-With"))
        return document(request)

    server = await serve("remote.test", app_with({"/note": note}))
    await client.fetch_document(url_of(server, "remote.test", "/note"))
    assert received == [None]


async def test_cross_host_redirect_is_refused_for_documents(
    serve: Serve, client: HttpClient
) -> None:
    other = await serve("other.test", counting_app())

    async def away(request: web.Request) -> web.Response:
        raise web.HTTPFound(url_of(other, "other.test", "/note"))

    server = await serve("remote.test", app_with({"/note": away}))
    with pytest.raises(FetchRefused, match=r"redirects to another host \(other\.test\)"):
        await client.fetch_document(url_of(server, "remote.test", "/note"))
    assert hits(other) == []


async def test_same_host_absolute_redirect_is_accepted_with_the_final_id(
    serve: Serve, client: HttpClient
) -> None:
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPPermanentRedirect(str(request.url.with_path("/notes/1")))

    async def note(request: web.Request) -> web.Response:
        return document(request)

    server = await serve("remote.test", app_with({"/old": moved, "/notes/1": note}))
    doc = await client.fetch_document(url_of(server, "remote.test", "/old"))
    assert doc["id"] == url_of(server, "remote.test", "/notes/1")


async def test_same_host_redirect_with_the_old_id_is_refused(
    serve: Serve, client: HttpClient
) -> None:
    """After a redirect the id must be the final URL, not the one first requested."""
    old = {}

    async def moved(request: web.Request) -> web.Response:
        old["url"] = str(request.url)
        raise web.HTTPFound("/notes/1")

    async def note(request: web.Request) -> web.Response:
        return web.json_response({"id": old["url"]}, content_type="application/activity+json")

    server = await serve("remote.test", app_with({"/old": moved, "/notes/1": note}))
    with pytest.raises(FetchError, match="does not match requested URL"):
        await client.fetch_document(url_of(server, "remote.test", "/old"))


async def test_json_fetches_may_follow_redirects_to_another_host(
    serve: Serve, client: HttpClient
) -> None:
    """WebFinger and NodeInfo may be delegated to another host; each hop is checked."""

    async def jrd(request: web.Request) -> web.Response:
        return web.json_response({"subject": "acct:a@remote.test"})

    other = await serve("other.test", app_with({"/jrd": jrd}))

    async def away(request: web.Request) -> web.Response:
        raise web.HTTPFound(url_of(other, "other.test", "/jrd"))

    server = await serve("remote.test", app_with({"/.well-known/webfinger": away}))
    found = await client.fetch_json(url_of(server, "remote.test", "/.well-known/webfinger"))
    assert found == {"subject": "acct:a@remote.test"}


async def test_redirect_without_location_is_an_error(serve: Serve, client: HttpClient) -> None:
    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=302)

    server = await serve("remote.test", app_with({"/x": broken}))
    with pytest.raises(FetchError, match="answered 302 without a Location"):
        await client.fetch_document(url_of(server, "remote.test", "/x"))


async def test_delivery_follows_307_and_is_signed_again(
    serve: Serve, client: HttpClient, signer: FakeSigner
) -> None:
    received: list[tuple[str, bytes, str | None]] = []

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("/inbox")

    async def inbox(request: web.Request) -> web.Response:
        received.append((request.path, await request.read(), request.headers.get("X-Signed-Url")))
        return web.Response(status=202)

    server = await serve("remote.test", app_with({"/old-inbox": moved, "/inbox": inbox}, "POST"))
    result = await client.post_activity(
        url_of(server, "remote.test", "/old-inbox"), b'{"type":"Follow"}', signer=signer
    )
    new = url_of(server, "remote.test", "/inbox")
    assert (result.status, result.url) == (202, new)
    assert received == [("/inbox", b'{"type":"Follow"}', new)]
    assert [url for _, url, _ in signer.calls] == [
        url_of(server, "remote.test", "/old-inbox"),
        new,
    ]
