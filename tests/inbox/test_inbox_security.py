"""SECURITY.md §6 items 1-7, 9 and 20 against the running server and real fake peers.

Every refusal is checked three ways: the HTTP status with its JSON reason, nothing in
the inbox queue, and (where the rule says the check comes before any I/O) no GET of
the signer's key (`peer.gets` empty). Key resolution (item 8, 16, 17) is in
test_key_resolution.py, addresses and slow servers (18, 19) in
tests/fedserver/test_ssrf_server.py.
"""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from typing import Any

import pytest
from multidict import CIMultiDict
from pytest_aiohttp import AiohttpServer

from fedserver.appkeys import store_key
from tests.conftest import Client, CreateUser, FrozenClock, MakeConfig, StartApp, StartPeer
from tests.fakes.delivery import (
    ALICE,
    ALICE_INBOX,
    LOCAL,
    add_user,
    assert_refused_and_nothing_stored,
    deliver,
    follow_body,
    raw_request,
    stored,
)
from tests.fakes.remote import BOVINE, GOTOSOCIAL, MASTODON, SNAC, FakePeer, public_pem
from tests.fakes.resolver import FakeResolver
from tests.fakes.scripted import start_scripted_peer

MIB = 1024 * 1024


@pytest.fixture
async def peer(app_client: Client, make_user: CreateUser, start_peer: StartPeer) -> FakePeer:
    """Alice on our server; bob and carol on a Mastodon-style peer."""
    await make_user("alice")
    started: FakePeer = await start_peer("mastodon.test", MASTODON, "bob", "carol")
    return started


async def assert_still_accepts(client: Client, peer: FakePeer) -> None:
    """The server is up and a correct delivery after the bad one is stored."""
    response = await deliver(client, peer)
    assert response.status == 202, await response.text()
    assert await stored(client) == 1


# -- 1. no signature ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/users/alice/inbox", "/inbox"])
async def test_unsigned_post_is_401_with_a_reason_and_no_fetch(
    app_client: Client, peer: FakePeer, path: str
) -> None:
    body = follow_body(peer)
    headers = peer.signed_headers("POST", LOCAL + path, body, name="bob")
    del headers["Signature"]

    response = await app_client.post(path, data=body, headers=headers)

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions="not signed"
    )
    assert not peer.gets


async def test_signature_smuggled_in_another_header_is_not_a_signature(
    app_client: Client, peer: FakePeer
) -> None:
    """Takahē's dead check (SECURITY.md 1.1): only the real header counts."""
    body = follow_body(peer)
    headers = peer.signed_headers("POST", ALICE_INBOX, body, name="bob")
    headers["X-Signature"] = headers.pop("Signature")

    response = await app_client.post("/users/alice/inbox", data=body, headers=headers)

    await assert_refused_and_nothing_stored(app_client, response, 401, "invalid_signature")


# -- 2. body modified after signing -------------------------------------------------------


async def test_body_modified_after_signing_is_401_before_any_fetch(
    app_client: Client, peer: FakePeer
) -> None:
    signed_body = follow_body(peer)
    sent_body = signed_body.replace(b"Follow", b"Block")
    headers = peer.signed_headers("POST", ALICE_INBOX, signed_body, name="bob")

    response = await app_client.post("/users/alice/inbox", data=sent_body, headers=headers)

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions="does not match body"
    )
    assert not peer.gets  # the digest is recomputed before the key is fetched


async def test_body_swapped_with_a_recomputed_digest_fails_the_signature(
    app_client: Client, peer: FakePeer
) -> None:
    """The attacker fixes up `Digest`, but the signature covers the original one."""
    signed_body = follow_body(peer)
    sent_body = follow_body(peer, id=peer.actor_uri("bob") + "/activities/forged")
    headers = peer.signed_headers("POST", ALICE_INBOX, signed_body, name="bob")
    headers["Digest"] = peer.signed_headers("POST", ALICE_INBOX, sent_body, name="bob")["Digest"]

    response = await app_client.post("/users/alice/inbox", data=sent_body, headers=headers)

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions="does not verify"
    )


# -- 3. coverage --------------------------------------------------------------------------


@pytest.mark.parametrize("left_out", ["digest", "(request-target)", "host", "date"])
async def test_signature_not_covering_a_required_header_is_401_before_any_fetch(
    app_client: Client, peer: FakePeer, left_out: str
) -> None:
    signed = [h for h in MASTODON.post_headers if h != left_out]

    response = await deliver(app_client, peer, signed=signed)

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions=left_out
    )
    assert not peer.gets


# -- 4. algorithms and unparseable headers ------------------------------------------------


async def test_unsupported_algorithm_is_401_before_any_fetch(
    app_client: Client, peer: FakePeer
) -> None:
    for algorithm in ["hmac-sha256", "rsa-sha1", "rsa-sha512", "ed25519", "HMAC-SHA256"]:
        body = follow_body(peer)
        headers = peer.signed_headers("POST", ALICE_INBOX, body, name="bob")
        headers["Signature"] = headers["Signature"].replace(
            'algorithm="rsa-sha256"', f'algorithm="{algorithm}"'
        )
        assert algorithm in headers["Signature"]

        response = await app_client.post("/users/alice/inbox", data=body, headers=headers)

        await assert_refused_and_nothing_stored(
            app_client, response, 401, "invalid_signature", mentions=algorithm
        )
    assert not peer.gets


KEY = 'keyId="http://mastodon.test/users/bob#main-key"'
GARBAGE_SIGNATURES = {
    "not a parameter list": "garbage",
    "empty": "",
    "unterminated quote": f'{KEY},signature="abc',
    "no signature parameter": f'{KEY},algorithm="rsa-sha256",headers="date"',
    "no keyId": 'algorithm="rsa-sha256",signature="AAAA"',
    "keyId twice": f'{KEY},{KEY},signature="AAAA"',
    "signature not base64": f'{KEY},signature="not base64!"',
    "created not a number": f'{KEY},created="soon",headers="(created)",signature="AAAA"',
    "headers repeat a name": f'{KEY},headers="date date",signature="AAAA"',
    "stray text after": f'{KEY},signature="AAAA" trailing',
}


async def test_unparseable_signature_header_is_400_never_500(
    app_client: Client, peer: FakePeer
) -> None:
    for case, value in GARBAGE_SIGNATURES.items():
        body = follow_body(peer)
        headers = peer.signed_headers("POST", ALICE_INBOX, body, name="bob")
        headers["Signature"] = value

        response = await app_client.post("/users/alice/inbox", data=body, headers=headers)

        assert response.status == 400, (case, await response.text())
        await assert_refused_and_nothing_stored(app_client, response, 400, "malformed_signature")
    assert not peer.gets
    await assert_still_accepts(app_client, peer)


@pytest.mark.parametrize(
    "value",
    [
        f'{KEY},signature="\xe9AAA"',
        f'{KEY},signature="AA\xe9A",headers="(request-target) host date digest"',
        f'{KEY},signature="AAAA",algorithm="\xe9"',
    ],
    ids=["signature", "signature-with-headers", "algorithm"],
)
async def test_non_ascii_bytes_in_the_signature_header_are_400_not_500(
    app_client: Client, peer: FakePeer, value: str
) -> None:
    """Sent as raw latin-1 bytes (aiohttp passes them on as surrogate escapes): the
    base64 decoder raises ValueError, not binascii.Error, for them."""
    body = follow_body(peer)
    headers = peer.signed_headers("POST", ALICE_INBOX, body, name="bob")
    headers["Signature"] = value

    status, content = await raw_request(
        app_client, "POST", "/users/alice/inbox", list(headers.items()), body
    )

    assert status in (400, 401), content
    assert json.loads(content)["code"] in ("malformed_signature", "invalid_signature")
    assert await stored(app_client) == 0
    assert not peer.gets


# -- 5. time window -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "mentions"),
    [
        (timedelta(days=-2), "old"),
        (timedelta(hours=-2), "old"),
        (timedelta(days=2), "future"),
    ],
    ids=["two-days-old", "two-hours-old", "two-days-ahead"],
)
async def test_date_outside_the_window_is_401_and_no_key_is_fetched(
    app_client: Client, peer: FakePeer, clock: FrozenClock, offset: timedelta, mentions: str
) -> None:
    response = await deliver(app_client, peer, date=clock() + offset)

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions=mentions
    )
    assert not peer.gets  # the window is checked before the key is resolved


async def test_unreadable_date_is_401_and_no_key_is_fetched(
    app_client: Client, peer: FakePeer
) -> None:
    """A Date that cannot be read cannot bound a replay: refuse it."""
    body = follow_body(peer)
    headers = peer.signed_headers("POST", ALICE_INBOX, body, name="bob")
    headers["Date"] = "yesterday"

    response = await app_client.post("/users/alice/inbox", data=body, headers=headers)

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions="not an HTTP date"
    )
    assert not peer.gets


# -- 6. signed for another target ---------------------------------------------------------


async def test_signed_for_alices_inbox_but_sent_to_the_shared_inbox_is_401(
    app_client: Client, peer: FakePeer
) -> None:
    response = await deliver(app_client, peer, path="/inbox", sign_url=ALICE_INBOX)

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions="does not verify"
    )


async def test_signed_as_get_but_sent_as_post_is_401(app_client: Client, peer: FakePeer) -> None:
    """A signature over `(request-target): get ...` (digest covered, so coverage
    passes) does not verify for the POST it is replayed on."""
    body = follow_body(peer)
    headers = peer.signed_headers(
        "GET", ALICE_INBOX, body, name="bob", signed=MASTODON.post_headers[:4]
    )
    headers["Content-Type"] = MASTODON.post_content_type
    assert "digest" in headers["Signature"]

    response = await app_client.post("/users/alice/inbox", data=body, headers=headers)

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions="does not verify"
    )


async def test_signed_for_another_server_is_401(app_client: Client, peer: FakePeer) -> None:
    """`host` is our configured host, never the Host header the client sent."""
    response = await deliver(app_client, peer, sign_url="http://elsewhere.test/users/alice/inbox")

    await assert_refused_and_nothing_stored(app_client, response, 401, "invalid_signature")


# -- 7. the signer must be the actor ------------------------------------------------------


async def test_activity_by_another_actor_of_the_same_peer_is_401(
    app_client: Client, peer: FakePeer
) -> None:
    """bob signs (validly) a Follow whose actor is carol on bob's own server."""
    body = follow_body(peer, "carol")

    response = await deliver(app_client, peer, body, name="bob")

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions="not the owner"
    )
    assert peer.gets == {"/users/bob": 1}  # carol's key was never even looked at


@pytest.mark.parametrize("embedded", [False, True], ids=["actor-as-id", "actor-as-object"])
async def test_activity_by_an_actor_on_another_host_is_401(
    app_client: Client, peer: FakePeer, start_peer: StartPeer, embedded: bool
) -> None:
    other = await start_peer("other.test", SNAC, "bob")
    victim = other.actor_uri("bob")
    actor: Any = {"id": victim, "type": "Person"} if embedded else victim
    body = follow_body(peer, actor=actor, id=victim + "/activities/1")

    response = await deliver(app_client, peer, body, name="bob")

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions="not the owner"
    )
    assert not other.gets


async def test_activity_id_on_another_host_than_its_actor_is_400(
    app_client: Client, peer: FakePeer
) -> None:
    """Fedify GHSA-4qhx: a foreign id could reserve the dedupe slot of someone else's."""
    body = follow_body(peer, id="http://other.test/activities/1")

    response = await deliver(app_client, peer, body)

    await assert_refused_and_nothing_stored(
        app_client, response, 400, "invalid_activity", mentions="host"
    )


# -- 9. blocked domains (the signature path) ----------------------------------------------


@pytest.mark.parametrize("domain", ["blocked.test", "social.blocked.test"])
async def test_key_on_a_blocked_domain_is_403_and_nothing_is_fetched(
    make_config: MakeConfig,
    start_app: StartApp,
    start_peer: StartPeer,
    resolver: FakeResolver,
    domain: str,
) -> None:
    client = await start_app(make_config(federation={"blocked_domains": ["Blocked.test"]}))
    await add_user(client)
    blocked = await start_peer(domain, GOTOSOCIAL, "bob")

    response = await deliver(client, blocked)

    await assert_refused_and_nothing_stored(client, response, 403, "forbidden", mentions="blocked")
    assert not blocked.gets
    assert domain not in resolver.lookups  # not even a DNS lookup


async def test_allowlist_mode_refuses_unlisted_domains_without_fetching(
    make_config: MakeConfig, start_app: StartApp, start_peer: StartPeer
) -> None:
    config = make_config(
        federation={"domain_policy": "allowlist", "allowed_domains": ["friends.test"]}
    )
    client = await start_app(config)
    await add_user(client)
    friend = await start_peer("friends.test", BOVINE, "bob")
    stranger = await start_peer("stranger.test", BOVINE, "bob")

    refused = await deliver(client, stranger)
    await assert_refused_and_nothing_stored(client, refused, 403, "forbidden")
    assert not stranger.gets

    accepted = await deliver(client, friend)
    assert accepted.status == 202, await accepted.text()
    assert await stored(client) == 1


async def test_key_whose_claimed_owner_is_on_a_blocked_domain_is_403_without_fetching_it(
    make_config: MakeConfig,
    start_app: StartApp,
    start_peer: StartPeer,
    aiohttp_server: AiohttpServer,
    resolver: FakeResolver,
    clock: FrozenClock,
) -> None:
    """The keyId's host is fine, but its document names an owner on a blocked domain:
    confirming that owner would mean fetching from the blocked domain. Refused first."""
    client = await start_app(make_config(federation={"blocked_domains": ["blocked.test"]}))
    await add_user(client)
    blocked = await start_peer("blocked.test", MASTODON, "bob")
    friendly = await start_scripted_peer(aiohttp_server, resolver, clock, "friendly.test", MASTODON)
    key_id = friendly.base_url + "/keys/1"
    pem = public_pem(blocked.actors["bob"].key)
    friendly.serve(key_id, {"id": key_id, "owner": blocked.actor_uri("bob"), "publicKeyPem": pem})

    response = await deliver(client, blocked, key_id=key_id)

    await assert_refused_and_nothing_stored(client, response, 403, "forbidden", mentions="blocked")
    assert friendly.gets == {"/keys/1": 1}
    assert not blocked.gets
    assert "blocked.test" not in resolver.lookups


# -- 20. size and shape -------------------------------------------------------------------


async def test_body_over_one_mib_is_413_before_parsing_or_fetching(
    app_client: Client, peer: FakePeer
) -> None:
    activity = json.loads(follow_body(peer))
    activity["padding"] = "x" * MIB
    body = json.dumps(activity).encode()

    response = await deliver(app_client, peer, body)

    assert response.status == 413, await response.text()
    error = await response.json()
    assert "larger than 1,048,576 bytes" in error["error"]
    assert await stored(app_client) == 0
    assert not peer.gets
    await assert_still_accepts(app_client, peer)


async def test_gzip_body_that_inflates_past_the_limit_is_413(
    app_client: Client, peer: FakePeer
) -> None:
    """aiohttp decompresses before counting: a 2 MiB bomb in a few KB is still 413."""
    activity = json.loads(follow_body(peer))
    activity["padding"] = "x" * (2 * MIB)
    compressed = gzip.compress(json.dumps(activity).encode())
    assert len(compressed) < 10_000

    response = await deliver(
        app_client, peer, compressed, extra_headers={"Content-Encoding": "gzip"}
    )

    assert response.status == 413, await response.text()
    assert "larger than" in (await response.json())["error"]
    assert await stored(app_client) == 0
    assert not peer.gets


MALFORMED_BODIES = {
    "truncated": b'{"type": "Follow", "actor": ',
    "not an object": b'["Follow"]',
    "ten thousand levels deep": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "deep arrays": b'{"a":' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    "forty levels deep": b'{"a":' * 40 + b"1" + b"}" * 40,
    "invalid utf-8": b'{"type": "Follow\xff"}',
    "utf-16": '{"type": "Follow"}'.encode("utf-16"),
    "utf-8 with a byte order mark": b"\xef\xbb\xbf" + b'{"type": "Follow"}',
    "NaN": b'{"type": "Follow", "n": NaN}',
}


async def test_correctly_signed_malformed_json_is_400_and_the_server_stays_up(
    app_client: Client, peer: FakePeer
) -> None:
    for case, body in MALFORMED_BODIES.items():
        response = await deliver(app_client, peer, body)

        assert response.status == 400, (case, await response.text())
        await assert_refused_and_nothing_stored(app_client, response, 400, "invalid_json")
    await assert_still_accepts(app_client, peer)


async def test_utf16_encoded_activity_is_refused_not_a_500(
    app_client: Client, peer: FakePeer
) -> None:
    """A well-formed activity in UTF-16: `json.loads(bytes)` would decode it, but JSON
    between systems is UTF-8 (RFC 8259 8.1) and the stored body must be UTF-8."""
    body = follow_body(peer).decode().encode("utf-16")

    response = await deliver(app_client, peer, body)

    await assert_refused_and_nothing_stored(app_client, response, 400, "invalid_json")


# -- headers: duplicates and Content-Type -------------------------------------------------


@pytest.mark.parametrize("name", ["Signature", "Date", "Digest"])
async def test_duplicate_signature_date_or_digest_header_is_401(
    app_client: Client, peer: FakePeer, clock: FrozenClock, name: str
) -> None:
    body = follow_body(peer)
    headers = CIMultiDict(peer.signed_headers("POST", ALICE_INBOX, body, name="bob"))
    other = peer.signed_headers(
        "POST", ALICE_INBOX, b"{}", name="bob", date=clock() - timedelta(minutes=1)
    )
    headers.add(name, other[name])

    response = await app_client.post("/users/alice/inbox", data=body, headers=headers)

    await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions=f"'{name.lower()}' headers"
    )
    assert not peer.gets


@pytest.mark.parametrize("order", ["ours-first", "theirs-first"])
async def test_duplicate_host_header_is_refused_before_the_inbox(
    app_client: Client, peer: FakePeer, order: str
) -> None:
    """Sent over a bare socket (aiohttp's client keeps one Host). aiohttp's own parser
    refuses a second Host with 400 before any handler runs; our signature code would
    refuse it too (401). Either way nothing is stored and no key is fetched."""
    body = follow_body(peer)
    headers = list(peer.signed_headers("POST", ALICE_INBOX, body, name="bob").items())
    extra = ("Host", "evil.test")
    headers = [extra, *headers] if order == "theirs-first" else [*headers, extra]
    assert [name for name, _ in headers].count("Host") == 2

    status, content = await raw_request(app_client, "POST", "/users/alice/inbox", headers, body)

    assert status in (400, 401), content
    assert await stored(app_client) == 0
    assert not peer.gets
    await assert_still_accepts(app_client, peer)


async def test_wrong_content_type_is_415_before_any_fetch(
    app_client: Client, peer: FakePeer
) -> None:
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "text/html", None]:
        body = follow_body(peer)
        headers = peer.signed_headers("POST", ALICE_INBOX, body, name="bob")
        if content_type is None:
            del headers["Content-Type"]
        else:
            headers["Content-Type"] = content_type

        response = await app_client.post("/users/alice/inbox", data=body, headers=headers)

        assert response.status == 415, (content_type, await response.text())
        await assert_refused_and_nothing_stored(app_client, response, 415, "unsupported_media_type")
    assert not peer.gets


# -- Mastodon's request-spec cases, at server level ---------------------------------------
# spec/requests/signature_verification_spec.rb and inboxes_controller_spec.rb; the pure
# cases (quirks, precomputed strings) are in tests/fedserver/signatures.


async def test_mastodon_unsigned_inbox_post_is_401_with_a_json_reason(
    app_client: Client, peer: FakePeer
) -> None:
    response = await app_client.post(
        "/users/alice/inbox",
        data=follow_body(peer),
        headers={"Content-Type": "application/activity+json"},
    )

    reason = await assert_refused_and_nothing_stored(app_client, response, 401, "invalid_signature")
    assert reason == "request is not signed"
    assert response.headers["Cache-Control"] == "no-store"


async def test_mastodon_inaccessible_key_is_401_naming_the_key(
    app_client: Client, peer: FakePeer
) -> None:
    key_id = peer.actor_uri("nobody") + "#main-key"

    response = await deliver(app_client, peer, key_id=key_id)

    reason = await assert_refused_and_nothing_stored(
        app_client, response, 401, "invalid_signature", mentions="could not fetch key"
    )
    assert key_id in reason
    assert "404" in reason
    assert peer.gets == {"/users/nobody": 1}


async def test_mastodon_key_on_a_private_address_is_401_with_the_guard_on(
    make_config: MakeConfig,
    start_app: StartApp,
    start_peer: StartPeer,
    resolver: FakeResolver,
) -> None:
    """Mastodon's HostValidationError case: the key's host resolves to 10.0.0.1. With the
    guard on nothing is dialled (a dial would hang: nobody listens there)."""
    config = make_config(federation={"allow_private_addresses": False, "fetch_timeout_seconds": 5})
    client = await start_app(config)
    await add_user(client)
    peer = await start_peer("mastodon.test", MASTODON, "bob")
    resolver.hosts["intranet.test"] = ("10.0.0.1", 80)

    response = await deliver(client, peer, key_id="http://intranet.test/users/bob#main-key")

    await assert_refused_and_nothing_stored(
        client, response, 401, "invalid_signature", mentions="not allowed"
    )
    assert "intranet.test" in resolver.lookups


# -- positive controls: the same helpers, honest requests ---------------------------------


@pytest.mark.parametrize("style", [MASTODON, GOTOSOCIAL, BOVINE, SNAC], ids=lambda s: s.name)
async def test_honest_delivery_through_the_same_helpers_is_accepted(
    app_client: Client, make_user: CreateUser, start_peer: StartPeer, style: Any
) -> None:
    await make_user("alice")
    peer = await start_peer(f"{style.name}.test", style, "bob")

    response = await deliver(app_client, peer)

    assert response.status == 202, await response.text()
    (item,) = await app_client.app[store_key].inbox.items()
    assert item.actor_uri == peer.actor_uri("bob")
    assert json.loads(item.body)["object"] == ALICE
