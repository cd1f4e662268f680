"""Outbound fetches caused by inbound requests, through the running server (SECURITY.md
§6 items 18-20, R7, R8).

A keyId is a URL the sender chooses, so every inbox POST can make us fetch something.
With `allow_private_addresses = false` (production) keyIds that are private addresses,
literally or after DNS, are refused without a connection; slow and huge key servers
are cut at the deadline and the cap, and the inbox still answers promptly.

`CountingServer` plays the internal service: it listens on loopback and records every
request, so "no connection made" is `hits == []`, not an inference from a status code.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from tests.conftest import Client, FrozenClock, MakeConfig, StartApp
from tests.fakes.delivery import (
    add_user,
    assert_refused_and_nothing_stored,
    deliver,
)
from tests.fakes.remote import ACTIVITY_JSON, MASTODON, FakePeer
from tests.fakes.resolver import FakeResolver
from tests.fakes.scripted import CountingServer, ScriptedPeer, huge, start_scripted_peer, trickle

MIB = 1024 * 1024
DEADLINE = 0.5


@pytest.fixture
async def internal(aiohttp_server: AiohttpServer, resolver: FakeResolver) -> CountingServer:
    """An internal service on 127.0.0.1 (also reachable as `internal.test`) and on ::1.
    A single app, so `hits` counts both."""
    server = CountingServer()
    await server.start(aiohttp_server)
    await server.start(aiohttp_server, host="::1")
    resolver.hosts["internal.test"] = server.port
    return server


@pytest.fixture
async def guarded(make_config: MakeConfig, start_app: StartApp) -> Client:
    """Our server with the address guard on, as in production (http stays allowed so
    that the refusals below are about addresses, not schemes)."""
    config = make_config(federation={"allow_private_addresses": False, "fetch_timeout_seconds": 2})
    client = await start_app(config)
    await add_user(client)
    return client


@pytest.fixture
def signer(clock: FrozenClock) -> FakePeer:
    """Signs like Mastodon; never needs to be reached (every keyId here is refused)."""
    peer = FakePeer("mastodon.test", MASTODON, clock)
    peer.add_actor("bob")
    return peer


LITERAL_KEY_IDS = {
    "loopback v4": "http://127.0.0.1:{v4}/users/x#main-key",
    "loopback v6": "http://[::1]:{v6}/users/x#main-key",
    "localhost": "http://localhost:{v4}/users/x#main-key",
    "localhost subdomain": "http://api.localhost:{v4}/users/x#main-key",
    "cloud metadata": "http://169.254.169.254/latest/meta-data/x#main-key",
    "decimal loopback": "http://2130706433:{v4}/users/x#main-key",
    "hex loopback": "http://0x7f.1:{v4}/users/x#main-key",
    "unspecified v4": "http://0.0.0.0:{v4}/users/x#main-key",
    "unspecified v6": "http://[::]:{v6}/users/x#main-key",
    "v4-mapped loopback": "http://[::ffff:127.0.0.1]:{v4}/users/x#main-key",
    "private 10/8": "http://10.0.0.1/users/x#main-key",
    "private 192.168/16": "http://192.168.1.1/users/x#main-key",
}


async def test_private_address_key_id_is_401_and_nothing_is_dialled(
    guarded: Client, internal: CountingServer, signer: FakePeer, resolver: FakeResolver
) -> None:
    for case, template in LITERAL_KEY_IDS.items():
        key_id = template.format(v4=internal.port, v6=internal.ports["::1"])

        started = time.monotonic()
        response = await deliver(guarded, signer, key_id=key_id)
        elapsed = time.monotonic() - started

        assert response.status == 401, (case, await response.text())
        await assert_refused_and_nothing_stored(
            guarded, response, 401, "invalid_signature", mentions="not allowed"
        )
        assert elapsed < 1.0, (case, elapsed)
    assert internal.hits == []
    assert resolver.lookups == []  # refused from the URL alone, before DNS


async def test_name_resolving_to_loopback_is_refused_after_dns(
    guarded: Client, internal: CountingServer, signer: FakePeer, resolver: FakeResolver
) -> None:
    """`internal.test` looks public; only its address gives it away. The guard checks
    it at connect time (after DNS), so no connection is made (Mastodon CVE-2026-22245)."""
    key_id = f"http://internal.test:{internal.port}/users/x#main-key"

    response = await deliver(guarded, signer, key_id=key_id)

    reason = await assert_refused_and_nothing_stored(
        guarded, response, 401, "invalid_signature", mentions="not allowed"
    )
    assert "internal.test" in reason
    # The reason must not reveal what our DNS resolves the name to.
    assert "127.0.0.1" not in reason
    assert "loopback" not in reason
    assert "internal.test" in resolver.lookups
    assert internal.hits == []


async def test_without_the_guard_the_same_key_id_reaches_the_counting_server(
    app_client: Client, internal: CountingServer, signer: FakePeer
) -> None:
    """The control for the two tests above: with `allow_private_addresses = true` (the
    test default) the internal server is reached, so its silence above is the guard's."""
    await add_user(app_client)
    key_id = f"http://internal.test:{internal.port}/users/x#main-key"

    response = await deliver(app_client, signer, key_id=key_id)

    await assert_refused_and_nothing_stored(app_client, response, 401, "invalid_signature")
    assert internal.hits == [f"GET internal.test:{internal.port}/users/x"]


async def test_key_server_redirecting_to_an_internal_host_is_refused(
    app_client: Client,
    aiohttp_server: AiohttpServer,
    resolver: FakeResolver,
    clock: FrozenClock,
    internal: CountingServer,
) -> None:
    """Fedify CVE-2026-77632: a redirect is a new URL. A key document must come from the
    host it was requested from, so the internal host is never asked (guard off here,
    to show the host rule holds on its own)."""
    peer = await start_scripted_peer(aiohttp_server, resolver, clock, "mastodon.test", MASTODON)
    peer.add_actor("bob")
    target = f"http://internal.test:{internal.port}/users/bob"

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(target)

    peer.script(peer.actor_uri("bob"), redirect)
    await add_user(app_client)

    response = await deliver(app_client, peer)

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions="not allowed"
    )
    assert internal.hits == []


# -- 19. slow key servers -----------------------------------------------------------------


StartSlow = Callable[[Callable[..., Any]], Awaitable[tuple[Client, ScriptedPeer]]]


@pytest.fixture
def start_slow(
    make_config: MakeConfig,
    start_app: StartApp,
    aiohttp_server: AiohttpServer,
    resolver: FakeResolver,
    clock: FrozenClock,
) -> StartSlow:
    """Our server with a 0.5 s fetch deadline, and a peer whose bob is served by
    `handler`."""

    async def start(handler: Callable[..., Any]) -> tuple[Client, ScriptedPeer]:
        client = await start_app(make_config(federation={"fetch_timeout_seconds": DEADLINE}))
        await add_user(client)
        peer = await start_scripted_peer(
            aiohttp_server, resolver, clock, "slow.test", MASTODON, "bob"
        )
        peer.script(peer.actor_uri("bob"), handler)
        return client, peer

    return start


async def test_key_server_sending_one_byte_per_second_is_cut_at_the_deadline(
    start_slow: StartSlow,
) -> None:
    client, peer = await start_slow(trickle(30))

    started = time.monotonic()
    inbox = asyncio.ensure_future(deliver(client, peer))
    await asyncio.sleep(0.1)
    other = await client.get("/actor", headers={"Accept": ACTIVITY_JSON})
    other_done = time.monotonic() - started
    response = await inbox
    elapsed = time.monotonic() - started

    await assert_refused_and_nothing_stored(
        client, response, 401, "invalid_signature", mentions="timed out after 0.5 s"
    )
    assert DEADLINE * 0.9 < elapsed < DEADLINE + 1.0, elapsed
    assert other.status == 200
    assert other_done < DEADLINE, other_done  # served while the key fetch was stuck


async def test_slow_key_server_costs_each_request_at_most_the_deadline(
    start_slow: StartSlow,
) -> None:
    """Five deliveries at once from the slow server's actor: one shared fetch, all
    answered at about the deadline, not five deadlines in a row."""
    client, peer = await start_slow(trickle(30))

    started = time.monotonic()
    responses = await asyncio.gather(*(deliver(client, peer) for _ in range(5)))
    elapsed = time.monotonic() - started

    assert [r.status for r in responses] == [401] * 5
    assert elapsed < DEADLINE + 1.0, elapsed
    assert peer.gets == {"/users/bob": 1}


# -- 20. fetched documents over the cap ---------------------------------------------------


async def gzip_bomb(request: web.Request) -> web.Response:
    """2 MiB of AS2 in a few KB of gzip: the cap counts inflated bytes."""
    body = json.dumps({"id": str(request.url), "type": "Person", "x": "x" * (2 * MIB)})
    return web.Response(
        body=gzip.compress(body.encode()),
        headers={"Content-Type": ACTIVITY_JSON, "Content-Encoding": "gzip"},
    )


@pytest.mark.parametrize(
    ("handler", "mentions"),
    [
        (huge(2 * MIB), "Content-Length"),
        (huge(2 * MIB, chunked=True), "exceeded"),
        (gzip_bomb, "exceeded"),
    ],
    ids=["declared", "chunked", "gzip-bomb"],
)
async def test_key_document_over_the_cap_is_401(
    start_slow: StartSlow, handler: Callable[..., Any], mentions: str
) -> None:
    client, peer = await start_slow(handler)

    response = await deliver(client, peer)

    await assert_refused_and_nothing_stored(
        client, response, 401, "invalid_signature", mentions=mentions
    )
    assert peer.gets == {"/users/bob": 1}
