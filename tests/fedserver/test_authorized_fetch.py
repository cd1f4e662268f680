"""Authorized fetch (`federation.authorized_fetch = true`), through the running server.

Collections need a signed GET from a peer; actor documents stay readable unsigned, since
a peer must read our key before it can verify anything we send (GoToSocial and bovine
run with authorized fetch always on: PEERS.md). Blocked domains get 403 without a fetch.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from fedserver.appkeys import key_resolver_key
from tests.conftest import Client, FrozenClock, MakeConfig, StartApp, StartPeer
from tests.fakes.delivery import LOCAL, add_user, assert_refused, raw_request
from tests.fakes.remote import ACTIVITY_JSON, BOVINE, GOTOSOCIAL, MASTODON, SNAC, Style
from tests.fakes.resolver import FakeResolver

COLLECTIONS = [
    "/users/alice/followers",
    "/users/alice/following",
    "/users/alice/outbox",
    "/users/alice/collections/featured",
    "/users/alice/followers?page=true",
    "/users/alice/outbox?page=true",
]
AS_ACCEPT = {"Accept": ACTIVITY_JSON}


@pytest.fixture
async def locked(make_config: MakeConfig, start_app: StartApp) -> Client:
    """Our server with authorized fetch on, and alice."""
    client = await start_app(make_config(federation={"authorized_fetch": True}))
    await add_user(client)
    return client


async def test_unsigned_get_of_a_collection_is_401(locked: Client) -> None:
    for path in COLLECTIONS:
        response = await locked.get(path, headers=AS_ACCEPT)

        assert response.status == 401, (path, await response.text())
        await assert_refused(response, 401, "invalid_signature", mentions="authorized fetch")


async def test_actor_documents_and_discovery_stay_readable_unsigned(locked: Client) -> None:
    for path in ["/users/alice", "/actor"]:
        response = await locked.get(path, headers=AS_ACCEPT)

        assert response.status == 200, (path, await response.text())
        document = await response.json(content_type=None)
        assert document["publicKey"]["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
    webfinger = await locked.get("/.well-known/webfinger?resource=acct:alice@local.test")
    assert webfinger.status == 200, await webfinger.text()


@pytest.mark.parametrize("style", [MASTODON, GOTOSOCIAL, BOVINE, SNAC], ids=lambda s: s.name)
async def test_get_signed_by_a_peer_actor_is_200(
    locked: Client, start_peer: StartPeer, style: Style
) -> None:
    peer = await start_peer(f"{style.name}.test", style, "bob")
    for path in COLLECTIONS:
        headers = peer.signed_headers("GET", LOCAL + path, name="bob")

        response = await locked.get(path, headers=headers)

        assert response.status == 200, (path, await response.text())
        document = await response.json(content_type=None)
        assert document["id"].startswith(LOCAL + path.split("?")[0])
    # One key fetch (GoToSocial: the stub and its owner), then the cache.
    assert locked.app[key_resolver_key].fetches == 1
    assert sum(peer.gets.values()) == (2 if style is GOTOSOCIAL else 1)


async def test_query_string_left_out_of_the_signature_is_accepted_on_get(
    locked: Client, start_peer: StartPeer
) -> None:
    """Mastodon's and GoToSocial's quirk: a GET signed over the path alone."""
    peer = await start_peer("gotosocial.test", GOTOSOCIAL, "bob")
    headers = peer.signed_headers("GET", LOCAL + "/users/alice/followers", name="bob")

    response = await locked.get("/users/alice/followers?page=true", headers=headers)

    assert response.status == 200, await response.text()


@pytest.mark.parametrize(
    ("signed_path", "sent_path"),
    [
        ("/users/alice/followers?page=1", "/users/alice/followers?page=2"),
        ("/users/alice/following", "/users/alice/followers"),
        ("/users/bob/followers", "/users/alice/followers"),
    ],
    ids=["other-query", "other-collection", "other-user"],
)
async def test_get_signed_for_another_target_is_401(
    locked: Client, start_peer: StartPeer, signed_path: str, sent_path: str
) -> None:
    peer = await start_peer("mastodon.test", MASTODON, "bob")
    headers = peer.signed_headers("GET", LOCAL + signed_path, name="bob")

    response = await locked.get(sent_path, headers=headers)

    await assert_refused(response, 401, "invalid_signature", mentions="does not verify")


async def test_stale_signed_get_is_401_without_a_key_fetch(
    locked: Client, start_peer: StartPeer, clock: FrozenClock
) -> None:
    peer = await start_peer("mastodon.test", MASTODON, "bob")
    path = "/users/alice/followers"
    headers = peer.signed_headers("GET", LOCAL + path, name="bob", date=clock() - timedelta(days=2))

    response = await locked.get(path, headers=headers)

    await assert_refused(response, 401, "invalid_signature", mentions="old")
    assert not peer.gets


async def test_signed_get_must_cover_host(locked: Client, start_peer: StartPeer) -> None:
    peer = await start_peer("mastodon.test", MASTODON, "bob")
    path = "/users/alice/outbox"
    headers = peer.signed_headers(
        "GET", LOCAL + path, name="bob", signed=["(request-target)", "date"]
    )

    response = await locked.get(path, headers=headers)

    await assert_refused(response, 401, "invalid_signature", mentions="'host'")
    assert not peer.gets


async def test_unsigned_non_ascii_digest_on_a_signed_get_is_400_not_500(
    locked: Client, start_peer: StartPeer
) -> None:
    """Every Digest present is checked, signed or not; a value with a non-ASCII byte
    (raw latin-1 on the wire) is a malformed header, not a crash."""
    peer = await start_peer("mastodon.test", MASTODON, "bob")
    path = "/users/alice/followers"
    headers = peer.signed_headers("GET", LOCAL + path, name="bob")
    headers["Digest"] = "SHA-256=\xe9AAA"

    status, content = await raw_request(locked, "GET", path, list(headers.items()))

    assert status == 400, content
    assert json.loads(content)["code"] == "bad_request"
    assert not peer.gets


@pytest.mark.parametrize("domain", ["blocked.test", "www.blocked.test"])
async def test_get_signed_by_a_blocked_domain_is_403_without_a_fetch(
    make_config: MakeConfig,
    start_app: StartApp,
    start_peer: StartPeer,
    resolver: FakeResolver,
    domain: str,
) -> None:
    config = make_config(federation={"authorized_fetch": True, "blocked_domains": ["blocked.test"]})
    client = await start_app(config)
    await add_user(client)
    peer = await start_peer(domain, MASTODON, "bob")
    path = "/users/alice/followers"

    response = await client.get(path, headers=peer.signed_headers("GET", LOCAL + path, name="bob"))

    await assert_refused(response, 403, "forbidden", mentions="blocked")
    assert not peer.gets
    assert domain not in resolver.lookups


async def test_with_authorized_fetch_off_unsigned_gets_are_200(
    app_client: Client, make_user: Any
) -> None:
    await make_user("alice")
    for path in COLLECTIONS:
        response = await app_client.get(path, headers=AS_ACCEPT)

        assert response.status == 200, (path, await response.text())


async def test_with_authorized_fetch_off_a_bad_signature_is_not_even_checked(
    app_client: Client, make_user: Any, start_peer: StartPeer
) -> None:
    """Off means off: nothing is verified (and nothing fetched) for a public GET."""
    await make_user("alice")
    peer = await start_peer("mastodon.test", MASTODON, "bob")
    path = "/users/alice/followers"
    headers = peer.signed_headers("GET", LOCAL + "/elsewhere", name="bob")

    response = await app_client.get(path, headers=headers)

    assert response.status == 200
    assert not peer.gets
