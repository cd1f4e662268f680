"""keyId → confirmed owner, through the running server (SECURITY.md R2, §6 items 8, 16, 17).

Fetching keys is where impersonation hides: a key document that names a victim as its
owner (Fedify CVE-2026-96625), GoToSocial's stub documents, rotated keys, a crowd of
requests for one unknown key, weak keys, documents with the wrong type or id, and key
servers that are gone or never answer. Each test drives real HTTP both ways: a fake
peer signs and serves, our app fetches through its guarded client.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pytest_aiohttp import AiohttpServer

from fedserver.appkeys import http_client_key, key_resolver_key, store_key
from tests.conftest import Client, CreateUser, FrozenClock, MakeConfig, StartApp, StartPeer
from tests.fakes.delivery import (
    ALICE,
    ALICE_INBOX,
    add_user,
    assert_refused,
    assert_refused_and_nothing_stored,
    deliver,
    follow_body,
    rfc9421_headers,
    stored,
)
from tests.fakes.remote import GOTOSOCIAL, MASTODON, FakePeer, public_pem
from tests.fakes.remote import test_rsa_key as rsa_key  # not collected as a test
from tests.fakes.resolver import FakeResolver
from tests.fakes.scripted import ScriptedPeer, stall, start_scripted_peer

StartScripted = Callable[..., Awaitable[ScriptedPeer]]


@pytest.fixture
def start_scripted(
    aiohttp_server: AiohttpServer, resolver: FakeResolver, clock: FrozenClock
) -> StartScripted:
    async def start(domain: str, style: Any, *names: str) -> ScriptedPeer:
        return await start_scripted_peer(aiohttp_server, resolver, clock, domain, style, *names)

    return start


@pytest.fixture
async def alice(make_user: CreateUser) -> None:
    await make_user("alice")


# -- R2: ownership confirmed both ways ----------------------------------------------------


def _evil_documents(evil: FakePeer, victim: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """keyId → (path, document) variants that each claim the victim owns an evil key."""
    pem = public_pem(evil.actors["mallory"].key)
    standalone = f"{evil.base_url}/keys/1"
    mallory = evil.actor_uri("mallory")
    return {
        "standalone key naming the victim as owner": (
            standalone,
            {"id": standalone, "type": "CryptographicKey", "owner": victim, "publicKeyPem": pem},
        ),
        "attacker's actor whose key names the victim": (
            mallory + "#main-key",
            {
                **evil.actor_document("mallory"),
                "publicKey": {"id": mallory + "#main-key", "owner": victim, "publicKeyPem": pem},
            },
        ),
        "document claiming to be the victim": (
            mallory + "#main-key",
            {
                **evil.actor_document("mallory"),
                "id": victim,
                "publicKey": {"id": mallory + "#main-key", "owner": victim, "publicKeyPem": pem},
            },
        ),
    }


@pytest.mark.parametrize(
    "variant",
    [
        "standalone key naming the victim as owner",
        "attacker's actor whose key names the victim",
        "document claiming to be the victim",
    ],
)
async def test_key_document_claiming_a_victim_owner_is_401(
    app_client: Client,
    alice: None,
    start_peer: StartPeer,
    start_scripted: StartScripted,
    variant: str,
) -> None:
    """Fedify CVE-2026-96625: the victim is fetched by its own id, does not list the
    attacker's key, so the claim is worthless."""
    victim_peer = await start_peer("victim.test", MASTODON, "vic")
    victim = victim_peer.actor_uri("vic")
    evil = await start_scripted("evil.test", MASTODON)
    evil.add_actor("mallory", rsa_key(7))
    key_id, document = _evil_documents(evil, victim)[variant]
    evil.serve(key_id, document)
    body = follow_body(victim_peer, "vic")  # a Follow by the victim, on the victim's host

    response = await deliver(app_client, evil, body, name="mallory", key_id=key_id)

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions="does not list key"
    )
    assert victim_peer.gets == {"/users/vic": 1}  # the owner, fetched by its own id
    assert evil.gets == {evil.path(key_id): 1}


async def test_gotosocial_stub_key_document_is_never_taken_for_the_actor(
    app_client: Client, alice: None, start_peer: StartPeer
) -> None:
    """GoToSocial's keyId `/users/bob/main-key` serves a stub Person (no inbox): the owner
    is fetched from its own id, and the full actor is what gets cached."""
    peer = await start_peer("gotosocial.test", GOTOSOCIAL, "bob")

    response = await deliver(app_client, peer)

    assert response.status == 202, await response.text()
    assert peer.gets["/users/bob/main-key"] == 1
    # The owner, by its own id (processing the Follow may read it again: at least once).
    assert peer.gets["/users/bob"] >= 1
    resolver = app_client.app[key_resolver_key]
    assert resolver.fetches == 1
    resolved, fresh = await resolver.resolve(peer.key_id("bob"))
    assert not fresh
    assert resolved.owner == peer.actor_uri("bob")
    # The stub has no inbox: this is the owner's own document.
    assert resolved.actor["inbox"] == peer.actor_uri("bob") + "/inbox"


async def test_gotosocial_stub_whose_owner_does_not_list_the_key_is_401(
    app_client: Client, alice: None, start_scripted: StartScripted
) -> None:
    peer = await start_scripted("gotosocial.test", GOTOSOCIAL, "bob")
    actor = peer.actor_document("bob")
    actor["publicKey"] = {**actor["publicKey"], "id": peer.actor_uri("bob") + "#other-key"}
    peer.serve(peer.actor_uri("bob"), actor)

    response = await deliver(app_client, peer)

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions="does not list key"
    )
    assert peer.gets == {"/users/bob/main-key": 1, "/users/bob": 1}


# -- rotation, rate limits, coalescing ----------------------------------------------------


async def test_rotated_key_is_refetched_once_then_rate_limited_per_host(
    app_client: Client, alice: None, start_peer: StartPeer
) -> None:
    """GoToSocial style, so that GETs of the key URL (`/users/NAME/main-key`) are the key
    resolver's alone: the inbox worker, processing what was accepted, may read actors."""
    peer = await start_peer("gotosocial.test", GOTOSOCIAL, "bob", "carol")
    resolver = app_client.app[key_resolver_key]
    bob_key, carol_key = "/users/bob/main-key", "/users/carol/main-key"
    assert (await deliver(app_client, peer)).status == 202
    assert (peer.gets[bob_key], resolver.fetches) == (1, 1)

    # bob's server rotates his key: the cached key fails, one refetch, accepted.
    peer.actors["bob"].key = rsa_key(5)
    response = await deliver(app_client, peer)
    assert response.status == 202, await response.text()
    assert (peer.gets[bob_key], resolver.fetches) == (2, 2)

    # Within the refresh interval, a bad signature (an unknown key) fetches nothing.
    forged = await deliver(app_client, peer, key=rsa_key(6))
    await assert_refused(forged, 401, "invalid_signature", mentions="does not verify")
    assert (peer.gets[bob_key], resolver.fetches) == (2, 2)

    # The limit is per host: carol (same host) rotating now is not refetched either...
    assert (await deliver(app_client, peer, name="carol")).status == 202
    assert (peer.gets[carol_key], resolver.fetches) == (1, 3)
    peer.actors["carol"].key = rsa_key(8)
    refused = await deliver(app_client, peer, name="carol")
    await assert_refused(refused, 401, "invalid_signature")
    assert (peer.gets[carol_key], resolver.fetches) == (1, 3)

    # ...and bob's refreshed key keeps working from the cache.
    assert (await deliver(app_client, peer)).status == 202
    assert (peer.gets[bob_key], resolver.fetches) == (2, 3)
    assert await stored(app_client) == 4


async def test_concurrent_requests_for_one_unknown_key_share_one_fetch(
    app_client: Client, alice: None, start_scripted: StartScripted
) -> None:
    """20 deliveries at once from an actor we have never seen: one GET of its key.
    (GoToSocial style: its key URL is fetched by nothing but the key resolver.)"""
    peer = await start_scripted("gotosocial.test", GOTOSOCIAL, "bob")
    # A slow key server keeps the first fetch in flight while the others arrive.
    peer.delay(peer.key_id("bob"), 0.3)
    bodies = [follow_body(peer) for _ in range(20)]

    responses = await asyncio.gather(*(deliver(app_client, peer, body) for body in bodies))

    assert [r.status for r in responses] == [202] * 20
    assert app_client.app[key_resolver_key].fetches == 1
    assert peer.gets["/users/bob/main-key"] == 1
    assert await stored(app_client) == 20

    # Later requests are served from the cache.
    assert (await deliver(app_client, peer)).status == 202
    assert app_client.app[key_resolver_key].fetches == 1
    assert peer.gets["/users/bob/main-key"] == 1


async def test_rsa_1024_key_is_401(app_client: Client, alice: None, start_peer: StartPeer) -> None:
    peer = await start_peer("mastodon.test", MASTODON)
    peer.add_actor("bob", rsa.generate_private_key(public_exponent=65537, key_size=1024))

    response = await deliver(app_client, peer)

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions="1,024 bits"
    )


# -- RFC 9421 -----------------------------------------------------------------------------


async def test_rfc9421_request_signed_by_an_independent_library_is_accepted(
    app_client: Client, alice: None, start_peer: StartPeer
) -> None:
    """Signed by `http_message_signatures`, not by our code; afterwards we answer the
    host in kind (RFC 9421 first)."""
    peer = await start_peer("mastodon.test", MASTODON, "bob")
    client = app_client.app[http_client_key]
    assert client.scheme_for("mastodon.test") == "cavage"
    body = follow_body(peer)
    headers = rfc9421_headers(peer, ALICE_INBOX, body)
    assert "Signature" not in headers or "keyId=" not in headers["Signature"]
    assert "content-digest" in headers["Signature-Input"]

    response = await app_client.post("/users/alice/inbox", data=body, headers=headers)

    assert response.status == 202, await response.text()
    assert await stored(app_client) == 1
    assert client.scheme_for("mastodon.test") == "rfc9421"


@pytest.mark.parametrize(
    "content_digest",
    ["SHA-256=:AAAA:", "sha-256=AAAA", "sha-256=:not base64!:", "sha-256=:AAAA:, sha-256=:AAAA:"],
    ids=["uppercase-key", "not-a-byte-sequence", "bad-base64", "repeated-key"],
)
async def test_rfc9421_malformed_content_digest_is_400_before_any_fetch(
    app_client: Client, alice: None, start_peer: StartPeer, content_digest: str
) -> None:
    peer = await start_peer("mastodon.test", MASTODON, "bob")
    body = follow_body(peer)
    headers = rfc9421_headers(peer, ALICE_INBOX, body)
    headers["Content-Digest"] = content_digest

    response = await app_client.post("/users/alice/inbox", data=body, headers=headers)

    await assert_refused_and_nothing_stored(app_client, response, 400, "bad_request")
    assert not peer.gets


async def test_rfc9421_body_changed_after_signing_is_401(
    app_client: Client, alice: None, start_peer: StartPeer
) -> None:
    peer = await start_peer("mastodon.test", MASTODON, "bob")
    body = follow_body(peer)
    headers = rfc9421_headers(peer, ALICE_INBOX, body)

    response = await app_client.post(
        "/users/alice/inbox", data=body.replace(b"Follow", b"Block"), headers=headers
    )

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions="Content-Digest"
    )
    assert not peer.gets


# -- 8. keys that are gone, missing or never answer ---------------------------------------


@pytest.mark.parametrize("style", [MASTODON, GOTOSOCIAL], ids=lambda s: s.name)
async def test_key_that_is_not_found_is_401(
    app_client: Client, alice: None, start_peer: StartPeer, style: Any
) -> None:
    peer = await start_peer(f"{style.name}.test", style, "bob")
    key_id = peer.actor_uri("ghost") + style.key_suffix

    response = await deliver(app_client, peer, key_id=key_id)

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions="answered 404"
    )


async def test_key_of_a_gone_actor_is_401_for_anything_but_its_own_delete(
    app_client: Client, alice: None, start_peer: StartPeer
) -> None:
    peer = await start_peer("mastodon.test", MASTODON, "bob")
    peer.actors["bob"].gone = True

    response = await deliver(app_client, peer)
    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions="answered 410"
    )

    # Deleting something else is not a self-Delete: still 401.
    other = json.dumps(peer.activity("bob", "Delete", peer.actor_uri("bob") + "/notes/1"))
    response = await deliver(app_client, peer, other.encode())
    await assert_refused_and_nothing_stored(app_client, response, 401, "invalid_signature")


@pytest.mark.parametrize("style", [MASTODON, GOTOSOCIAL], ids=lambda s: s.name)
@pytest.mark.parametrize("embedded", [False, True], ids=["object-as-id", "object-as-actor"])
async def test_self_delete_of_a_gone_actor_is_202_with_nothing_stored(
    app_client: Client, alice: None, start_peer: StartPeer, style: Any, embedded: bool
) -> None:
    """Mastodon and Akkoma fake success here so the sender stops retrying; there is
    nothing to verify and nothing to do."""
    peer = await start_peer(f"{style.name}.test", style, "bob")
    peer.actors["bob"].gone = True
    uri = peer.actor_uri("bob")
    delete = peer.activity("bob", "Delete", {"id": uri, "type": "Tombstone"} if embedded else uri)

    response = await deliver(app_client, peer, json.dumps(delete).encode(), path="/inbox")

    assert response.status == 202, await response.text()
    assert await stored(app_client) == 0
    assert sum(peer.gets.values()) == 1


async def test_key_server_that_never_answers_is_401_at_the_deadline(
    make_config: MakeConfig, start_app: StartApp, start_scripted: StartScripted
) -> None:
    """The inbox answers when the fetch deadline passes, and other requests are served
    meanwhile (the key fetch blocks one request, not the server)."""
    client = await start_app(make_config(federation={"fetch_timeout_seconds": 0.5}))
    await add_user(client)
    peer = await start_scripted("slow.test", MASTODON, "bob")
    peer.script(peer.actor_uri("bob"), stall(5))

    started = time.monotonic()
    inbox = asyncio.ensure_future(deliver(client, peer))
    await asyncio.sleep(0.1)
    meanwhile = await client.get("/users/alice", headers={"Accept": "application/activity+json"})
    answered_meanwhile = time.monotonic() - started
    response = await inbox
    elapsed = time.monotonic() - started

    assert meanwhile.status == 200
    assert answered_meanwhile < 0.45 < elapsed, (answered_meanwhile, elapsed)
    await assert_refused_and_nothing_stored(
        client, response, 401, "invalid_signature", mentions="timed out after 0.5 s"
    )
    assert 0.45 < elapsed < 1.5, elapsed
    assert peer.gets == {"/users/bob": 1}


# -- 16. key documents must be ActivityStreams --------------------------------------------


@pytest.mark.parametrize("style", [MASTODON, GOTOSOCIAL], ids=lambda s: s.name)
async def test_key_document_without_an_activitystreams_type_is_401(
    app_client: Client, alice: None, start_scripted: StartScripted, style: Any
) -> None:
    """Misskey CVE-2024-25636: an upload served as text/html or application/json must
    never become an actor or a key. (No Content-Type at all reads as octet-stream.)"""
    peer = await start_scripted(f"{style.name}.test", style, "bob")
    key_url = peer.key_id("bob").split("#")[0]
    content_types = ["text/html", "application/json", "text/plain", None]
    for content_type in content_types:
        peer.serve(key_url, peer.actor_document("bob"), content_type=content_type)

        response = await deliver(app_client, peer)

        assert response.status == 401, (content_type, await response.text())
        await assert_refused_and_nothing_stored(
            app_client, response, 401, "invalid_signature", mentions="Content-Type"
        )
    assert peer.gets == {peer.path(key_url): len(content_types)}


# -- 17. key documents must be what was asked for -----------------------------------------


async def test_another_actors_document_served_at_the_key_url_is_401(
    app_client: Client, alice: None, start_scripted: StartScripted
) -> None:
    """GoToSocial TestDereferenceRemoteAccountWithNonMatchingURI: carol's document at
    bob's URL. It does not publish bob's key, so bob is not authenticated."""
    peer = await start_scripted("mastodon.test", MASTODON, "bob", "carol")
    peer.serve(peer.actor_uri("bob"), peer.actor_document("carol"))

    response = await deliver(app_client, peer)

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions="does not publish key"
    )


async def test_document_with_a_self_reported_id_is_never_trusted_as_the_owner(
    app_client: Client, alice: None, start_scripted: StartScripted
) -> None:
    """Mastodon CVE-2024-23832: the document at bob's URL says it is carol and lists
    bob's key. Its id differs from the URL, so its owner is fetched by id, and the
    answer at that URL (the same document) is refused for its id."""
    peer = await start_scripted("mastodon.test", MASTODON, "bob", "carol")
    document = {**peer.actor_document("bob"), "id": peer.actor_uri("carol")}
    peer.serve(peer.actor_uri("bob"), document)

    response = await deliver(app_client, peer)

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions="does not match requested URL"
    )
    assert peer.gets == {"/users/bob": 2}


async def test_standalone_key_with_another_id_is_401(
    app_client: Client, alice: None, start_scripted: StartScripted
) -> None:
    peer = await start_scripted("mastodon.test", MASTODON, "bob")
    key_id = peer.base_url + "/keys/bob"
    pem = public_pem(peer.actors["bob"].key)
    peer.serve(
        key_id,
        {"id": peer.base_url + "/keys/other", "owner": peer.actor_uri("bob"), "publicKeyPem": pem},
    )

    response = await deliver(app_client, peer, key_id=key_id)

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions="does not publish key"
    )


# -- the same fixtures, honest: a standalone key document is fine when the owner agrees ---


async def test_standalone_key_whose_owner_lists_it_is_accepted(
    app_client: Client, alice: None, start_scripted: StartScripted
) -> None:
    peer = await start_scripted("mastodon.test", MASTODON, "bob")
    key_id = peer.base_url + "/keys/bob"
    pem = public_pem(peer.actors["bob"].key)
    peer.serve(key_id, {"id": key_id, "owner": peer.actor_uri("bob"), "publicKeyPem": pem})
    actor = peer.actor_document("bob")
    actor["publicKey"] = {"id": key_id, "owner": peer.actor_uri("bob"), "publicKeyPem": pem}
    peer.serve(peer.actor_uri("bob"), actor)

    response = await deliver(app_client, peer, key_id=key_id)

    assert response.status == 202, await response.text()
    assert peer.gets["/keys/bob"] == 1
    assert peer.gets["/users/bob"] >= 1  # the owner, confirmed by its own id
    assert app_client.app[key_resolver_key].fetches == 1
    (item,) = await app_client.app[store_key].inbox.items()
    assert (item.key_id, item.actor_uri) == (key_id, peer.actor_uri("bob"))
    assert json.loads(item.body)["object"] == ALICE


async def test_an_actor_advertising_rfc9421_is_signed_for_with_it(
    app_client: Client, start_peer: StartPeer
) -> None:
    """FEP-844e: an actor document listing RFC 9421 in `implements` switches the host to
    RFC 9421 signatures (with the draft-cavage fall-back on a 401)."""
    from fedserver.appkeys import http_client_key, remote_actors_key
    from tests.fakes.remote import MASTODON

    peer = await start_peer("modern.test", MASTODON, "bob")
    plain = await start_peer("plain.test", MASTODON, "carol")
    original = peer.actor_document

    def advertising(name: str) -> dict[str, Any]:
        document = original(name)
        document["implements"] = [{"href": "https://datatracker.ietf.org/doc/html/rfc9421"}]
        return document

    peer.actor_document = advertising  # type: ignore[method-assign]
    client = app_client.app[http_client_key]
    await app_client.app[remote_actors_key].get(peer.actor_uri("bob"))
    await app_client.app[remote_actors_key].get(plain.actor_uri("carol"))
    assert client.scheme_for("modern.test") == "rfc9421"
    assert client.scheme_for("plain.test") == "cavage"
