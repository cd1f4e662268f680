"""Issue 3's acceptance: peers that sign like GoToSocial, bovine and snac are accepted; the
same requests, tampered with, get 401 with a reason, and nothing of them is stored."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from fedserver.appkeys import store_key
from tests.conftest import Client, CreateUser, FrozenClock, StartPeer
from tests.fakes.remote import BOVINE, GOTOSOCIAL, MASTODON, SNAC, STYLES, Style

INBOX = "http://local.test/users/alice/inbox"


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.name)
@pytest.mark.parametrize("path", ["/users/alice/inbox", "/inbox"])
async def test_peer_signing_in_its_own_style_is_accepted(
    app_client: Client, make_user: CreateUser, start_peer: StartPeer, style: Style, path: str
) -> None:
    """A Follow signed the way each peer signs is stored and answered 202."""
    await make_user("alice")
    peer = await start_peer(f"{style.name}.test", style, "bob")
    follow = peer.activity("bob", "Follow", "http://local.test/users/alice")
    body = json.dumps(follow).encode()
    headers = peer.signed_headers("POST", "http://local.test" + path, body, name="bob")

    response = await app_client.post(path, data=body, headers=headers)

    assert response.status == 202, await response.text()
    items = await app_client.app[store_key].inbox.items()
    assert [(i.activity_id, i.actor_uri, i.activity_type) for i in items] == [
        (follow["id"], peer.actor_uri("bob"), "Follow")
    ]
    assert items[0].key_id == peer.key_id("bob")


TAMPERINGS = {
    "body changed after signing": {"digest_of": b'{"other": "body"}'},
    "date two hours old": {"date_offset": timedelta(hours=-2)},
    "digest not among the signed headers": {"signed": ("(request-target)", "host", "date")},
    "path changed": {"sign_url": "http://local.test/users/carol/inbox"},
    "no signature at all": {"unsigned": True},
}


@pytest.mark.parametrize("style", [GOTOSOCIAL, BOVINE, SNAC], ids=lambda s: s.name)
@pytest.mark.parametrize("tampering", TAMPERINGS, ids=str)
async def test_tampered_requests_are_401_with_a_reason_and_nothing_stored(
    app_client: Client,
    make_user: CreateUser,
    start_peer: StartPeer,
    clock: FrozenClock,
    style: Style,
    tampering: str,
) -> None:
    await make_user("alice")
    peer = await start_peer(f"{style.name}.test", style, "bob")
    body = json.dumps(peer.activity("bob", "Follow", "http://local.test/users/alice")).encode()
    options = dict(TAMPERINGS[tampering])
    sign_url = str(options.pop("sign_url", INBOX))
    if "date_offset" in options:
        options["date"] = clock() + options.pop("date_offset")  # type: ignore[operator]
    unsigned = options.pop("unsigned", False)
    headers = peer.signed_headers("POST", sign_url, body, name="bob", **options)
    if unsigned:
        del headers["Signature"]

    response = await app_client.post("/users/alice/inbox", data=body, headers=headers)

    assert response.status == 401
    error = await response.json()
    assert error["code"] == "invalid_signature"
    assert len(error["error"]) > 10, error
    assert await app_client.app[store_key].inbox.count() == 0


async def test_redelivery_is_202_and_changes_nothing(
    app_client: Client, make_user: CreateUser, start_peer: StartPeer
) -> None:
    await make_user("alice")
    peer = await start_peer("mastodon.test", MASTODON, "bob")
    body = json.dumps(peer.activity("bob", "Follow", "http://local.test/users/alice")).encode()
    for _ in range(2):
        headers = peer.signed_headers("POST", INBOX, body, name="bob")
        response = await app_client.post("/users/alice/inbox", data=body, headers=headers)
        assert response.status == 202
    assert await app_client.app[store_key].inbox.count() == 1
