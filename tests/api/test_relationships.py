"""Relationships through the client API: follow (local, locked, and remote on a fake
Mastodon peer, which receives a signed Follow), unfollow, follow requests, removing a
follower, blocks and mutes, and the relationships endpoint, with scope enforcement."""

from __future__ import annotations

from typing import Any

import pytest

from fedserver.appkeys import delivery_worker_key, remote_actors_key, store_key
from fedserver.db import AccountRow, LocalUser
from fedserver.signatures import load_public_key, verify_request
from tests.api.openapi import assert_valid
from tests.conftest import Client, CreateUser, FrozenClock, MakeToken, Rows, StartPeer
from tests.fakes.remote import ACTIVITY_JSON, MASTODON


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post(
    client: Client, path: str, token: str, status: int = 200, **options: Any
) -> dict[str, Any]:
    response = await client.post(path, headers=auth(token), **options)
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def relationship(client: Client, token: str, account: AccountRow) -> dict[str, Any]:
    response = await client.get(
        f"/api/v1/accounts/relationships?id={account.id}", headers=auth(token)
    )
    assert response.status == 200
    found = await response.json()
    assert len(found) == 1
    body: dict[str, Any] = found[0]
    return body


@pytest.fixture
async def alice(make_user: CreateUser) -> LocalUser:
    return await make_user("alice")


@pytest.fixture
async def token(alice: LocalUser, make_token: MakeToken) -> str:
    return await make_token(alice)


# -- follows -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {},  # Mastodon.py and others POST without a body or a Content-Type
        {"data": {"reblogs": "1", "notify": "0"}},
        {"json": {"reblogs": True, "notify": False}},
    ],
)
async def test_follow_a_local_account(
    app_client: Client, alice: LocalUser, token: str, make_user: CreateUser, body: Any
) -> None:
    bob = await make_user("bob")

    found = await post(app_client, f"/api/v1/accounts/{bob.account.id}/follow", token, **body)

    assert found["id"] == str(bob.account.id)
    assert (found["following"], found["requested"], found["showing_reblogs"]) == (True, False, True)
    assert found["notifying"] is False
    follow = await app_client.app[store_key].follows.get(alice.account.id, bob.account.id)
    assert follow is not None
    assert follow.state == "accepted"
    assert_valid(found, "Relationship")


async def test_follow_options_are_kept_and_changed(
    app_client: Client, token: str, make_user: CreateUser
) -> None:
    bob = await make_user("bob")
    path = f"/api/v1/accounts/{bob.account.id}/follow/"

    first = await post(app_client, path, token, data={"reblogs": "0", "notify": "true"})
    again = await post(app_client, path, token)
    changed = await post(app_client, path, token, json={"reblogs": "1"})

    assert (first["showing_reblogs"], first["notifying"]) == (False, True)
    assert (again["showing_reblogs"], again["notifying"]) == (False, True)
    assert (changed["showing_reblogs"], changed["notifying"]) == (True, True)


async def test_follow_scopes_and_errors(
    app_client: Client, alice: LocalUser, make_user: CreateUser, make_token: MakeToken
) -> None:
    bob = await make_user("bob")
    path = f"/api/v1/accounts/{bob.account.id}/follow"

    assert (await app_client.post(path)).status == 401
    read = await app_client.post(path, headers=auth(await make_token(alice, "read")))
    assert read.status == 403
    legacy = await make_token(alice, "follow")  # the legacy scope grants write:follows
    assert (await app_client.post(path, headers=auth(legacy))).status == 200
    body = await post(app_client, "/api/v1/accounts/42/follow", legacy, status=404)
    assert body["error"] == "Record not found"
    await post(app_client, f"/api/v1/accounts/{alice.account.id}/follow", legacy, status=422)


async def test_a_locked_account_gets_a_follow_request(
    app_client: Client,
    alice: LocalUser,
    token: str,
    make_user: CreateUser,
    make_token: MakeToken,
    rows: Rows,
) -> None:
    bob = await make_user("bob")
    carol = await make_user("carol")
    await rows.update_account(bob.account.id, manually_approves_followers=1)
    bob_token = await make_token(bob)

    asked = await post(app_client, f"/api/v1/accounts/{bob.account.id}/follow", token)
    await post(app_client, f"/api/v1/accounts/{bob.account.id}/follow", await make_token(carol))
    assert (asked["following"], asked["requested"]) == (False, True)

    response = await app_client.get("/api/v1/follow_requests?limit=1", headers=auth(bob_token))
    waiting = await response.json()
    assert [a["acct"] for a in waiting] == ["carol"]
    assert 'rel="next"' in response.headers["Link"]
    seen = await relationship(app_client, bob_token, alice.account)
    assert seen["requested_by"] is True

    accepted = await post(
        app_client, f"/api/v1/follow_requests/{alice.account.id}/authorize", bob_token
    )
    rejected = await post(
        app_client, f"/api/v1/follow_requests/{carol.account.id}/reject/", bob_token
    )

    assert (accepted["followed_by"], accepted["requested_by"]) == (True, False)
    assert (rejected["followed_by"], rejected["requested_by"]) == (False, False)
    assert (await relationship(app_client, token, bob.account))["following"] is True
    again = f"/api/v1/follow_requests/{alice.account.id}/authorize"
    assert (await post(app_client, again, bob_token, status=404))["error"] == "Record not found"
    requests = await app_client.get("/api/v1/follow_requests", headers=auth(bob_token))
    assert await requests.json() == []
    assert_valid(waiting, "Account")


async def test_follow_a_remote_account_sends_a_signed_follow(
    app_client: Client,
    alice: LocalUser,
    token: str,
    start_peer: StartPeer,
    clock: FrozenClock,
) -> None:
    """The Follow leaves through the delivery worker; `requested` stays true until the
    remote's own Accept arrives."""
    peer = await start_peer("peer.test", MASTODON, "bob")
    app = app_client.app
    bob = await app[remote_actors_key].resolve_acct("bob@peer.test")

    found = await post(app_client, f"/api/v1/accounts/{bob.id}/follow", token)
    await app[delivery_worker_key].run_until_idle(clock())

    assert (found["following"], found["requested"]) == (False, True)
    assert len(peer.received) == 1
    received = peer.received[0]
    follow = received.json()
    assert follow["type"] == "Follow"
    assert follow["actor"] == "http://local.test/users/alice"
    assert follow["object"] == "http://peer.test/users/bob"
    document = await (
        await app_client.get("/users/alice", headers={"Accept": ACTIVITY_JSON})
    ).json()
    signed = verify_request(
        received.method,
        received.path,
        received.headers.items(),
        received.body,
        host=received.headers["Host"],
        target_uri=f"http://{received.headers['Host']}{received.path}",
        public_key=load_public_key(document["publicKey"]["publicKeyPem"]),
        now=clock(),
    )
    assert signed.key_id == document["publicKey"]["id"]
    assert (await relationship(app_client, token, bob))["requested"] is True


async def test_unfollow_sends_undo_to_a_remote(
    app_client: Client,
    alice: LocalUser,
    token: str,
    start_peer: StartPeer,
    clock: FrozenClock,
) -> None:
    peer = await start_peer("peer.test", MASTODON, "bob")
    app = app_client.app
    bob = await app[remote_actors_key].resolve_acct("bob@peer.test")
    await post(app_client, f"/api/v1/accounts/{bob.id}/follow", token)

    found = await post(app_client, f"/api/v1/accounts/{bob.id}/unfollow", token)
    again = await post(app_client, f"/api/v1/accounts/{bob.id}/unfollow", token)
    await app[delivery_worker_key].run_until_idle(clock())

    assert (found["following"], found["requested"]) == (False, False)
    assert again == found
    assert [r.json()["type"] for r in peer.received] == ["Follow", "Undo"]


async def test_remove_from_followers(
    app_client: Client, alice: LocalUser, token: str, make_user: CreateUser, rows: Rows
) -> None:
    bob = await make_user("bob")
    await rows.follow(bob.account.id, alice.account.id)
    assert (await relationship(app_client, token, bob.account))["followed_by"] is True

    found = await post(
        app_client, f"/api/v1/accounts/{bob.account.id}/remove_from_followers", token
    )

    assert found["followed_by"] is False
    assert await app_client.app[store_key].follows.get(bob.account.id, alice.account.id) is None


# -- blocks ------------------------------------------------------------------------------


async def test_block_severs_follows_and_lists(
    app_client: Client,
    alice: LocalUser,
    token: str,
    make_user: CreateUser,
    make_token: MakeToken,
    rows: Rows,
    clock: FrozenClock,
) -> None:
    bob = await make_user("bob")
    carol = await make_user("carol")
    await rows.follow(bob.account.id, alice.account.id)
    await rows.follow(alice.account.id, bob.account.id)

    blocked = await post(app_client, f"/api/v1/accounts/{bob.account.id}/block", token)
    clock.advance(seconds=1)
    await post(app_client, f"/api/v1/accounts/{carol.account.id}/block", token)

    assert (blocked["blocking"], blocked["following"], blocked["followed_by"]) == (
        True,
        False,
        False,
    )
    seen_by_bob = await relationship(app_client, await make_token(bob), alice.account)
    assert seen_by_bob["blocked_by"] is True
    response = await app_client.get("/api/v1/blocks?limit=1", headers=auth(token))
    first = await response.json()
    assert [a["acct"] for a in first] == ["carol"]
    next_path = response.headers["Link"].split(">")[0].removeprefix("<http://local.test")
    rest = await (await app_client.get(next_path, headers=auth(token))).json()
    assert [a["acct"] for a in rest] == ["bob"]
    refollow = await app_client.post(
        f"/api/v1/accounts/{alice.account.id}/follow", headers=auth(await make_token(bob))
    )
    assert refollow.status == 403

    unblocked = await post(app_client, f"/api/v1/accounts/{bob.account.id}/unblock", token)
    assert unblocked["blocking"] is False
    read_only = await make_token(alice, "read")
    path = f"/api/v1/accounts/{carol.account.id}/unblock"
    assert (await app_client.post(path, headers=auth(read_only))).status == 403
    assert (await app_client.get("/api/v1/blocks", headers=auth(read_only))).status == 200
    write_only = await make_token(alice, "write")
    assert (await app_client.get("/api/v1/blocks", headers=auth(write_only))).status == 403
    assert_valid(first, "Account")


# -- mutes -------------------------------------------------------------------------------


async def test_mute_with_duration_and_without_notifications(
    app_client: Client, alice: LocalUser, token: str, make_user: CreateUser, clock: FrozenClock
) -> None:
    bob = await make_user("bob")
    carol = await make_user("carol")

    muted = await post(
        app_client,
        f"/api/v1/accounts/{bob.account.id}/mute",
        token,
        data={"notifications": "false", "duration": "3600"},
    )
    forever = await post(app_client, f"/api/v1/accounts/{carol.account.id}/mute", token)

    assert (muted["muting"], muted["muting_notifications"]) == (True, False)
    assert muted["muting_expires_at"] == "2026-11-21T13:00:00.000Z"
    assert (forever["muting"], forever["muting_notifications"]) == (True, True)
    both = await (await app_client.get("/api/v1/mutes", headers=auth(token))).json()
    assert {a["acct"]: a["mute_expires_at"] for a in both} == {
        "carol": None,
        "bob": "2026-11-21T13:00:00.000Z",
    }

    clock.advance(hours=1, seconds=1)
    assert (await relationship(app_client, token, bob.account))["muting"] is False
    listed = await (await app_client.get("/api/v1/mutes/", headers=auth(token))).json()
    assert [a["acct"] for a in listed] == ["carol"]
    unmuted = await post(app_client, f"/api/v1/accounts/{carol.account.id}/unmute", token)
    assert unmuted["muting"] is False
    assert_valid(both, "MutedAccount")


async def test_mute_scopes(
    app_client: Client, alice: LocalUser, make_user: CreateUser, make_token: MakeToken
) -> None:
    bob = await make_user("bob")
    path = f"/api/v1/accounts/{bob.account.id}/mute"

    read = await app_client.post(path, headers=auth(await make_token(alice, "read")))
    granular = await app_client.post(path, headers=auth(await make_token(alice, "write:mutes")))

    assert (read.status, granular.status) == (403, 200)
    listing = await app_client.get("/api/v1/mutes", headers=auth(await make_token(alice, "write")))
    assert listing.status == 403


# -- relationships -----------------------------------------------------------------------


async def test_relationships_take_id_and_id_brackets(
    app_client: Client, alice: LocalUser, token: str, make_user: CreateUser, rows: Rows
) -> None:
    bob = await make_user("bob")
    remote_id = await rows.remote_account("dan")
    await rows.follow(alice.account.id, remote_id, state="pending")

    both = await app_client.get(
        f"/api/v1/accounts/relationships/?id[]={bob.account.id}&id[]=999&id[]={remote_id}",
        headers=auth(token),
    )
    single = await app_client.get(
        f"/api/v1/accounts/relationships?id={remote_id}", headers=auth(token)
    )

    found = await both.json()
    assert [r["id"] for r in found] == [str(bob.account.id), str(remote_id)]
    assert found[1]["requested"] is True
    assert await single.json() == [found[1]]
    anonymous = await app_client.get(f"/api/v1/accounts/relationships?id={remote_id}")
    assert anonymous.status == 401
    assert_valid(found, "Relationship")
