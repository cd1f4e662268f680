"""Delivery: statuses as results, Retry-After, RFC 9421 / draft-cavage double-knocks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiohttp import web

from fedserver.http import (
    DELIVERY_BODY_PREFIX_BYTES,
    FetchPolicy,
    HttpClient,
    SchemeMemory,
    parse_retry_after,
)
from tests.fakes.resolver import FakeResolver

from .conftest import TEST_POLICY, FakeSigner, Serve, app_with, url_of

received_key = web.AppKey("received", list)


def inbox_app(*, refuse_rfc9421: bool = False) -> web.Application:
    """A fake inbox recording (scheme, content type, body) of every POST.

    With `refuse_rfc9421` it answers 401 to RFC 9421 signatures and 202 to cavage
    ones, as a server that only knows draft-cavage does.
    """
    app = web.Application()
    app[received_key] = []

    async def inbox(request: web.Request) -> web.Response:
        scheme = request.headers.get("X-Signed-With")
        request.app[received_key].append((scheme, request.content_type, await request.read()))
        if refuse_rfc9421 and scheme == "rfc9421":
            return web.json_response({"error": "unknown signature"}, status=401)
        return web.Response(status=202)

    app.router.add_post("/inbox", inbox)
    return app


def schemes_received(app: web.Application | None) -> list[str | None]:
    assert app is not None
    return [scheme for scheme, _, _ in app[received_key]]


async def test_delivery_posts_signed_activity_json(
    serve: Serve, client: HttpClient, signer: FakeSigner
) -> None:
    server = await serve("remote.test", inbox_app())
    url = url_of(server, "remote.test", "/inbox")

    result = await client.post_activity(url, b'{"type": "Create"}', signer=signer)

    assert (result.status, result.ok, result.scheme, result.url) == (
        202,
        True,
        "cavage",
        url,
    )
    assert server.app is not None
    assert server.app[received_key] == [
        ("cavage", "application/activity+json", b'{"type": "Create"}')
    ]
    assert signer.calls == [("POST", url, "cavage")]
    assert signer.headers_seen[0]["Content-Type"] == "application/activity+json"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 429, 500, 502, 503])
async def test_http_statuses_are_results_not_errors(
    serve: Serve, client: HttpClient, signer: FakeSigner, status: int
) -> None:
    async def inbox(request: web.Request) -> web.Response:
        return web.Response(status=status, text="x" * 5000)

    server = await serve("remote.test", app_with({"/inbox": inbox}, "POST"))
    result = await client.post_activity(
        url_of(server, "remote.test", "/inbox"), b"{}", signer=signer
    )
    assert (result.status, result.ok) == (status, False)
    assert result.body_prefix == "x" * DELIVERY_BODY_PREFIX_BYTES


async def test_retry_after_in_seconds(serve: Serve, client: HttpClient, signer: FakeSigner) -> None:
    async def busy(request: web.Request) -> web.Response:
        return web.Response(status=503, headers={"Retry-After": "120"}, text="busy")

    server = await serve("remote.test", app_with({"/inbox": busy}, "POST"))
    result = await client.post_activity(
        url_of(server, "remote.test", "/inbox"), b"{}", signer=signer
    )
    assert (result.status, result.retry_after, result.body_prefix) == (
        503,
        120.0,
        "busy",
    )


async def test_retry_after_as_http_date_uses_the_injected_clock(
    serve: Serve, resolver: FakeResolver, signer: FakeSigner
) -> None:
    async def busy(request: web.Request) -> web.Response:
        headers = {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
        return web.Response(status=429, headers=headers)

    server = await serve("remote.test", app_with({"/inbox": busy}, "POST"))
    now = datetime(2015, 10, 21, 7, 26, 0, tzinfo=UTC)
    async with HttpClient(TEST_POLICY, resolver=resolver, clock=lambda: now) as client:
        result = await client.post_activity(
            url_of(server, "remote.test", "/inbox"), b"{}", signer=signer
        )
    assert (result.status, result.retry_after) == (429, 120.0)


NOW = datetime(2015, 10, 21, 7, 26, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 120.0),
        ("Wednesday, 21-Oct-15 07:28:00 GMT", 120.0),  # obsolete RFC 850 form
        ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),  # in the past
        (None, None),
        ("", None),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("9" * 5000, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


async def test_unknown_hosts_get_draft_cavage(
    serve: Serve, client: HttpClient, signer: FakeSigner
) -> None:
    server = await serve("remote.test", inbox_app())
    url = url_of(server, "remote.test", "/inbox")
    await client.post_activity(url, b"{}", signer=signer)
    assert schemes_received(server.app) == ["cavage"]


async def test_double_knock_falls_back_to_cavage_and_remembers(
    serve: Serve, client: HttpClient, signer: FakeSigner
) -> None:
    server = await serve("remote.test", inbox_app(refuse_rfc9421=True))
    url = url_of(server, "remote.test", "/inbox")
    client.mark_rfc9421_supported("remote.test")

    first = await client.post_activity(url, b"{}", signer=signer)
    second = await client.post_activity(url, b"{}", signer=signer)

    assert (first.status, first.scheme) == (202, "cavage")
    assert (second.status, second.scheme) == (202, "cavage")
    assert schemes_received(server.app) == ["rfc9421", "cavage", "cavage"]
    assert client.scheme_for("remote.test") == "cavage"
    # A later FEP-844e advertisement does not undo what the 401 taught us.
    client.mark_rfc9421_supported("remote.test")
    assert client.scheme_for("remote.test") == "cavage"


async def test_host_that_accepts_rfc9421_keeps_getting_it(
    serve: Serve, client: HttpClient, signer: FakeSigner
) -> None:
    server = await serve("remote.test", inbox_app())
    url = url_of(server, "remote.test", "/inbox")
    client.mark_rfc9421_supported("REMOTE.test.")

    for _ in range(3):
        result = await client.post_activity(url, b"{}", signer=signer)
        assert (result.status, result.scheme) == (202, "rfc9421")

    assert schemes_received(server.app) == ["rfc9421"] * 3


async def test_signed_gets_knock_twice_too(
    serve: Serve, client: HttpClient, signer: FakeSigner
) -> None:
    async def actor(request: web.Request) -> web.Response:
        if request.headers.get("X-Signed-With") != "cavage":
            return web.Response(status=401)
        return web.json_response({"id": str(request.url)}, content_type="application/activity+json")

    server = await serve("remote.test", app_with({"/users/a": actor}))
    client.mark_rfc9421_supported("remote.test")
    await client.fetch_document(url_of(server, "remote.test", "/users/a"), signer=signer)
    assert [scheme for _, _, scheme in signer.calls] == ["rfc9421", "cavage"]


def test_scheme_memory_expires_verdicts() -> None:
    now = [0.0]
    memory = SchemeMemory(ttl_seconds=60, clock=lambda: now[0])
    memory.mark_rfc9421_supported("a.test")
    memory.rfc9421_rejected("b.test")
    assert (memory.scheme_for("a.test"), memory.scheme_for("b.test")) == (
        "rfc9421",
        "cavage",
    )
    now[0] = 61.0
    assert (memory.scheme_for("a.test"), len(memory)) == ("cavage", 1)
    # b.test's 401 has expired too: an advertisement is believed again.
    memory.mark_rfc9421_supported("b.test")
    assert memory.scheme_for("b.test") == "rfc9421"


def test_scheme_memory_is_bounded_least_recently_used_out() -> None:
    memory = SchemeMemory(max_hosts=2)
    memory.mark_rfc9421_supported("a.test")
    memory.mark_rfc9421_supported("b.test")
    memory.scheme_for("a.test")  # a is now the most recently used
    memory.mark_rfc9421_supported("c.test")
    assert len(memory) == 2
    assert [memory.scheme_for(h) for h in ("a.test", "b.test", "c.test")] == [
        "rfc9421",
        "cavage",
        "rfc9421",
    ]


def test_policy_default_is_strict() -> None:
    policy = FetchPolicy()
    assert (
        policy.allow_http,
        policy.allow_private_addresses,
        policy.max_redirects,
    ) == (
        False,
        False,
        2,
    )
    assert (policy.timeout_seconds, policy.max_document_bytes) == (10.0, 1024 * 1024)
