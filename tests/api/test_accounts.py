"""Accounts through the client API, over real HTTP with stored tokens: one's own profile
(verify and update credentials, federated as Update(Person)), profiles, lookups, an
account's statuses with Mastodon's visibility rules and filters, followers and following,
and account search. Entities are checked against the Mastodon OpenAPI schemas."""

from __future__ import annotations

from typing import Any

import pytest

from fedserver.appkeys import delivery_worker_key, ids_key, outbox_key, remote_actors_key, store_key
from fedserver.db import LocalUser, NewAttachment, NewStatus
from tests.api.openapi import assert_valid, errors, require_spec
from tests.conftest import Client, CreateUser, FrozenClock, MakeToken, Rows, StartPeer
from tests.fakes.remote import MASTODON


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def get_json(client: Client, path: str, token: str | None = None, status: int = 200) -> Any:
    response = await client.get(path, headers=auth(token))
    assert response.status == status, await response.text()
    return await response.json()


def links(header: str) -> dict[str, str]:
    """rel → URL path and query of a Link header."""
    found = {}
    for part in header.split(","):
        url, rel = part.split(";")
        found[rel.strip().removeprefix('rel="').removesuffix('"')] = (
            url.strip().strip("<>").removeprefix("http://local.test")
        )
    return found


def test_the_schema_check_is_not_vacuous() -> None:
    """tests/api/openapi.py rejects what Mastodon clients would choke on."""
    require_spec()
    assert errors({"id": 1}, "Relationship")  # an integer id, required fields missing
    marker = {"last_read_id": "1", "version": 1, "updated_at": "2026-11-21T12:00:00.000Z"}
    assert errors(marker, "Marker") == []
    assert errors({**marker, "updated_at": "yesterday"}, "Marker") == [
        "updated_at: 'yesterday' is not a 'date-time'"
    ]
    with pytest.raises(AssertionError, match="not a valid Marker"):
        assert_valid([marker, {**marker, "version": "2"}], "Marker")


# -- verify_credentials ------------------------------------------------------------------


async def test_verify_credentials_is_a_credential_account(
    app_client: Client, make_user: CreateUser, make_token: MakeToken
) -> None:
    alice = await make_user("alice", is_admin=True)
    token = await make_token(alice, "read")

    me = await get_json(app_client, "/api/v1/accounts/verify_credentials/", token)

    assert me["id"] == str(alice.account.id)
    assert me["acct"] == "alice"
    assert me["source"]["privacy"] == "public"
    assert me["source"]["note"] == ""
    assert me["source"]["follow_requests_count"] == 0
    assert me["role"]["permissions"] != "0"
    assert_valid(me, "CredentialAccount")


async def test_verify_credentials_scopes(
    app_client: Client, make_user: CreateUser, make_token: MakeToken
) -> None:
    alice = await make_user("alice")
    path = "/api/v1/accounts/verify_credentials"

    assert (await app_client.get(path)).status == 401
    assert (await app_client.get(path, headers=auth("not-a-token"))).status == 401
    assert (
        await app_client.get(path, headers=auth(await make_token(alice, "write")))
    ).status == 403
    # The OAuth `profile` scope is enough (Mastodon 4.3).
    assert (
        await app_client.get(path, headers=auth(await make_token(alice, "profile")))
    ).status == 200


# -- update_credentials ------------------------------------------------------------------


async def test_update_credentials_with_a_form(
    app_client: Client, make_user: CreateUser, make_token: MakeToken
) -> None:
    alice = await make_user("alice")
    token = await make_token(alice)
    note = "I <3 <b>tags</b> & #Cats\n\nSee https://example.com/x"

    response = await app_client.patch(
        "/api/v1/accounts/update_credentials",
        data={
            "display_name": "Alice A.",
            "note": note,
            "locked": "1",
            "bot": "false",
            "fields_attributes[0][name]": "Web",
            "fields_attributes[0][value]": "https://alice.example",
            "fields_attributes[1][name]": "Likes <i>",
            "fields_attributes[1][value]": "tea & <cake>",
            "fields_attributes[2][name]": "",
            "fields_attributes[2][value]": "",
            "source[privacy]": "private",
            "source[sensitive]": "true",
            "source[language]": "de",
        },
        headers=auth(token),
    )

    assert response.status == 200, await response.text()
    me = await response.json()
    assert me["display_name"] == "Alice A."
    assert me["locked"] is True
    assert "&lt;b&gt;tags&lt;/b&gt;" in me["note"]
    assert "<b>" not in me["note"]
    assert '<a href="https://example.com/x"' in me["note"]
    assert me["source"]["note"] == note
    assert [f["name"] for f in me["fields"]] == ["Web", "Likes <i>"]
    assert me["fields"][1]["value"] == "tea &amp; &lt;cake&gt;"
    assert me["fields"][0]["value"].startswith('<a href="https://alice.example"')
    assert me["source"]["fields"][1] == {
        "name": "Likes <i>",
        "value": "tea & <cake>",
        "verified_at": None,
    }
    assert (me["source"]["privacy"], me["source"]["sensitive"], me["source"]["language"]) == (
        "private",
        True,
        "de",
    )
    again = await get_json(app_client, "/api/v1/accounts/verify_credentials", token)
    assert again["source"] == me["source"]
    assert_valid(me, "CredentialAccount")


async def test_update_credentials_with_json(
    app_client: Client, make_user: CreateUser, make_token: MakeToken
) -> None:
    alice = await make_user("alice")
    token = await make_token(alice)

    response = await app_client.patch(
        "/api/v1/accounts/update_credentials/",
        json={
            "note": "hello",
            "discoverable": False,
            "indexable": 1,
            "fields_attributes": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}],
            "source": {"privacy": "unlisted", "sensitive": "0"},
        },
        headers=auth(token),
    )

    assert response.status == 200, await response.text()
    me = await response.json()
    assert me["note"] == "<p>hello</p>"
    assert (me["discoverable"], me["indexable"]) == (False, True)
    assert [(f["name"], f["value"]) for f in me["fields"]] == [("a", "1"), ("b", "2")]
    assert (me["source"]["privacy"], me["source"]["sensitive"]) == ("unlisted", False)
    assert (me["source"]["discoverable"], me["source"]["indexable"]) == (False, True)
    # JSON objects keyed by index work as well, and a partial update keeps the rest.
    response = await app_client.patch(
        "/api/v1/accounts/update_credentials",
        json={"fields_attributes": {"1": {"name": "y", "value": "2"}, "0": {"name": "x"}}},
        headers=auth(token),
    )
    me = await response.json()
    assert [(f["name"], f["value"]) for f in me["fields"]] == [("x", ""), ("y", "2")]
    assert me["note"] == "<p>hello</p>"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"display_name": "x" * 31}, "Display name is too long"),
        ({"note": "x" * 501}, "Note is too long"),
        (
            {f"fields_attributes[{i}][name]": f"f{i}" for i in range(5)},
            "Fields is too long",
        ),
        ({"fields_attributes[0][name]": "x" * 256}, "at most 255"),
        ({"source[privacy]": "everyone"}, "source[privacy]"),
        ({"source[language]": "not a language"}, "source[language]"),
        ({"locked": "maybe"}, "locked"),
    ],
)
async def test_update_credentials_limits(
    app_client: Client,
    make_user: CreateUser,
    make_token: MakeToken,
    fields: dict[str, str],
    message: str,
) -> None:
    """config.limits: 30 characters of display name, 500 of bio, 4 fields (422)."""
    alice = await make_user("alice")
    response = await app_client.patch(
        "/api/v1/accounts/update_credentials", data=fields, headers=auth(await make_token(alice))
    )

    assert response.status == 422
    assert message in (await response.json())["error"]
    me = await get_json(app_client, "/api/v1/accounts/verify_credentials", await make_token(alice))
    assert me["display_name"] == ""


async def test_update_credentials_needs_write_accounts(
    app_client: Client, make_user: CreateUser, make_token: MakeToken
) -> None:
    alice = await make_user("alice")
    path = "/api/v1/accounts/update_credentials"
    form = {"display_name": "x"}

    read = await app_client.patch(path, data=form, headers=auth(await make_token(alice, "read")))
    assert read.status == 403
    assert (await app_client.patch(path, data=form)).status == 401
    granular = await make_token(alice, "write:accounts")
    assert (await app_client.patch(path, data=form, headers=auth(granular))).status == 200


async def test_a_profile_change_is_federated_as_update_person(
    app_client: Client,
    make_user: CreateUser,
    make_token: MakeToken,
    rows: Rows,
    start_peer: StartPeer,
    clock: FrozenClock,
) -> None:
    peer = await start_peer("peer.test", MASTODON, "bob")
    app = app_client.app
    alice = await make_user("alice")
    bob = await app[remote_actors_key].resolve_acct("bob@peer.test")
    await rows.follow(bob.id, alice.account.id)

    response = await app_client.patch(
        "/api/v1/accounts/update_credentials",
        data={"display_name": "Alice Updated", "bot": "1"},
        headers=auth(await make_token(alice)),
    )
    assert response.status == 200
    await app[delivery_worker_key].run_until_idle(clock())

    updates = [r.json() for r in peer.received if r.json()["type"] == "Update"]
    assert len(updates) == 1
    assert updates[0]["actor"] == "http://local.test/users/alice"
    assert updates[0]["object"]["name"] == "Alice Updated"
    assert updates[0]["object"]["type"] == "Service"
    assert "Signature" in peer.received[0].headers


async def test_only_posting_defaults_change_nothing_is_federated(
    app_client: Client,
    make_user: CreateUser,
    make_token: MakeToken,
    rows: Rows,
    start_peer: StartPeer,
    clock: FrozenClock,
) -> None:
    peer = await start_peer("peer.test", MASTODON, "bob")
    app = app_client.app
    alice = await make_user("alice")
    bob = await app[remote_actors_key].resolve_acct("bob@peer.test")
    await rows.follow(bob.id, alice.account.id)

    response = await app_client.patch(
        "/api/v1/accounts/update_credentials",
        data={"source[privacy]": "private"},
        headers=auth(await make_token(alice)),
    )
    assert response.status == 200
    await app[delivery_worker_key].run_until_idle(clock())

    assert peer.received == []


async def test_unlocking_accepts_waiting_follow_requests(
    app_client: Client, make_user: CreateUser, make_token: MakeToken, rows: Rows
) -> None:
    alice = await make_user("alice")
    carol = await make_user("carol")
    await rows.update_account(alice.account.id, manually_approves_followers=1)
    await rows.follow(carol.account.id, alice.account.id, state="pending")
    token = await make_token(alice)
    me = await get_json(app_client, "/api/v1/accounts/verify_credentials", token)
    assert me["source"]["follow_requests_count"] == 1

    response = await app_client.patch(
        "/api/v1/accounts/update_credentials", data={"locked": "0"}, headers=auth(token)
    )

    me = await response.json()
    assert (me["locked"], me["source"]["follow_requests_count"], me["followers_count"]) == (
        False,
        0,
        1,
    )


# -- profiles and lookups ----------------------------------------------------------------


async def test_get_an_account(app_client: Client, make_user: CreateUser, rows: Rows) -> None:
    alice = await make_user("alice")
    remote_id = await rows.remote_account("bob")

    local = await get_json(app_client, f"/api/v1/accounts/{alice.account.id}")
    remote = await get_json(app_client, f"/api/v1/accounts/{remote_id}/")

    assert (local["acct"], local["url"]) == ("alice", "http://local.test/@alice")
    assert local["uri"] == "http://local.test/users/alice"
    assert (remote["acct"], remote["uri"]) == ("bob@remote.test", "https://remote.test/users/bob")
    assert_valid([local, remote], "Account")


async def test_unknown_accounts_are_record_not_found(app_client: Client) -> None:
    for path in ("/api/v1/accounts/123", "/api/v1/accounts/99999999999999999999999"):
        body = await get_json(app_client, path, status=404)
        assert body["error"] in ("Record not found", "not found")
    body = await get_json(app_client, "/api/v1/accounts/123/statuses", status=404)
    assert body["error"] == "Record not found"


async def test_lookup(app_client: Client, make_user: CreateUser, rows: Rows) -> None:
    alice = await make_user("alice")
    remote_id = await rows.remote_account("bob")

    for acct in ("alice", "@alice", "ALICE", "alice@local.test"):
        found = await get_json(app_client, f"/api/v1/accounts/lookup?acct={acct}")
        assert found["id"] == str(alice.account.id), acct
    found = await get_json(app_client, "/api/v1/accounts/lookup/?acct=bob@remote.test")
    assert found["id"] == str(remote_id)
    for unknown in ("nobody", "bob@elsewhere.test", ""):
        body = await get_json(app_client, f"/api/v1/accounts/lookup?acct={unknown}", status=404)
        assert body["error"] == "Record not found"
    assert_valid(found, "Account")


# -- an account's statuses ---------------------------------------------------------------


async def statuses_of(client: Client, user: LocalUser, token: str | None, query: str = "") -> Any:
    return await get_json(client, f"/api/v1/accounts/{user.account.id}/statuses{query}", token)


async def test_account_statuses_follow_visibility_rules(
    app_client: Client, make_user: CreateUser, make_token: MakeToken, rows: Rows
) -> None:
    outbox = app_client.app[outbox_key]
    alice = await make_user("alice")
    follower = await make_user("follower")
    pending = await make_user("pending")
    stranger = await make_user("stranger")
    mentioned = await make_user("mentioned")
    await rows.follow(follower.account.id, alice.account.id)
    await rows.follow(pending.account.id, alice.account.id, state="pending")
    posted = {}
    for visibility in ("public", "unlisted", "private"):
        posted[visibility] = str(
            (await outbox.post(alice.account, visibility, visibility=visibility)).id
        )
    direct = await outbox.post(
        alice.account, "@mentioned psst", visibility="direct", mentions=[mentioned.account]
    )
    posted["direct"] = str(direct.id)

    rendered: list[Any] = []

    async def seen(user: LocalUser | None) -> set[str]:
        token = await make_token(user, "read") if user else None
        found = await statuses_of(app_client, alice, token)
        rendered.extend(found)
        return {s["visibility"] for s in found}

    assert await seen(None) == {"public", "unlisted"}
    assert await seen(stranger) == {"public", "unlisted"}
    assert await seen(pending) == {"public", "unlisted"}
    assert await seen(follower) == {"public", "unlisted", "private"}
    assert await seen(mentioned) == {"public", "unlisted", "direct"}
    assert await seen(alice) == {"public", "unlisted", "private", "direct"}
    assert_valid(rendered, "Status")


async def test_blocked_viewers_see_no_statuses(
    app_client: Client, make_user: CreateUser, make_token: MakeToken
) -> None:
    outbox = app_client.app[outbox_key]
    alice = await make_user("alice")
    bob = await make_user("bob")
    await outbox.post(alice.account, "hello")
    await outbox.block(alice.account, bob.account)

    assert await statuses_of(app_client, alice, await make_token(bob, "read")) == []
    assert len(await statuses_of(app_client, alice, None)) == 1


async def test_account_statuses_filters(
    app_client: Client, make_user: CreateUser, clock: FrozenClock
) -> None:
    app = app_client.app
    outbox = app[outbox_key]
    alice = await make_user("alice")
    bob = await make_user("bob")
    plain = await outbox.post(alice.account, "plain #Tagged")
    pinned = await outbox.post(alice.account, "pinned")
    await outbox.pin(alice.account, pinned, pinned=True)
    others = await outbox.post(bob.account, "bob's")
    reply = await outbox.post(alice.account, "a reply", in_reply_to=others)
    thread = await outbox.post(alice.account, "my thread", in_reply_to=plain)
    boost = await outbox.reblog(alice.account, others)
    media_id = app[ids_key]()
    picture = NewAttachment(
        app[ids_key](), "image", "https://cdn.example/p.png", "image/png", "a pic", None, 10, 10
    )
    async with app[store_key].db.transaction() as tx:
        await app[store_key].statuses.insert(
            tx,
            NewStatus(
                id=media_id,
                account_id=alice.account.id,
                uri=None,
                url=None,
                content="<p>pic</p>",
                spoiler_text="",
                visibility="public",
                sensitive=False,
                language=None,
                created_at=clock(),
                attachments=(picture,),
            ),
        )

    async def ids(query: str) -> list[str]:
        return [s["id"] for s in await statuses_of(app_client, alice, None, query)]

    every = await ids("")
    assert set(every) == {str(s.id) for s in (plain, pinned, reply, thread, boost)} | {
        str(media_id)
    }
    assert await ids("?pinned=true") == [str(pinned.id)]
    assert str(reply.id) not in await ids("?exclude_replies=1")
    assert str(thread.id) in await ids("?exclude_replies=1")  # self-replies stay
    assert str(boost.id) not in await ids("?exclude_reblogs=true")
    assert str(boost.id) in await ids("?exclude_reblogs=0")
    assert await ids("?only_media=1") == [str(media_id)]
    assert await ids("?tagged=tagged") == [str(plain.id)]
    assert await ids("?tagged=%23TAGGED") == [str(plain.id)]


async def test_account_statuses_paging(
    app_client: Client, make_user: CreateUser, clock: FrozenClock
) -> None:
    outbox = app_client.app[outbox_key]
    alice = await make_user("alice")
    posted = []
    for number in range(5):
        clock.advance(seconds=1)
        posted.append(str((await outbox.post(alice.account, f"post {number}")).id))
    newest_first = posted[::-1]
    path = f"/api/v1/accounts/{alice.account.id}/statuses"

    response = await app_client.get(path + "?limit=2")
    first = [s["id"] for s in await response.json()]
    assert first == newest_first[:2]
    page = links(response.headers["Link"])
    assert page["next"] == f"{path}?limit=2&max_id={first[-1]}"
    assert page["prev"] == f"{path}?limit=2&min_id={first[0]}"

    response = await app_client.get(page["next"])
    second = [s["id"] for s in await response.json()]
    assert second == newest_first[2:4]
    back = links(response.headers["Link"])["prev"]
    assert [s["id"] for s in await get_json(app_client, back)] == newest_first[:2]
    since = await get_json(app_client, f"{path}?since_id={newest_first[2]}")
    assert [s["id"] for s in since] == newest_first[:2]


# -- followers and following -------------------------------------------------------------


async def test_followers_and_following_are_paged(
    app_client: Client, make_user: CreateUser, rows: Rows, clock: FrozenClock
) -> None:
    alice = await make_user("alice")
    followers = []
    for name in ("b1", "b2", "b3"):
        clock.advance(seconds=1)
        user = await make_user(name)
        await rows.follow(user.account.id, alice.account.id)
        followers.append(str(user.account.id))
    remote_id = await rows.remote_account("remote")
    await rows.follow(alice.account.id, remote_id)
    await rows.follow(await rows.remote_account("asks"), alice.account.id, state="pending")
    path = f"/api/v1/accounts/{alice.account.id}/followers"

    response = await app_client.get(path + "?limit=2")
    page = await response.json()
    assert [a["id"] for a in page] == followers[::-1][:2]
    rest = await get_json(app_client, links(response.headers["Link"])["next"])
    assert [a["id"] for a in rest] == [followers[0]]

    following = await get_json(app_client, f"/api/v1/accounts/{alice.account.id}/following/")
    assert [a["acct"] for a in following] == ["remote@remote.test"]
    theirs = await get_json(app_client, f"/api/v1/accounts/{remote_id}/followers")
    assert [a["acct"] for a in theirs] == ["alice"]
    assert_valid(page, "Account")


# -- account search ----------------------------------------------------------------------


async def test_account_search(
    app_client: Client, make_user: CreateUser, make_token: MakeToken, rows: Rows
) -> None:
    alice = await make_user("alice")
    await make_user("alicia")
    await make_user("bob")
    remote_id = await rows.remote_account("alina", "remote.test")
    await rows.update_account(remote_id, display_name="Ms Alina Remote")
    named = await make_user("zed")
    await rows.update_account(named.account.id, display_name="Zed Alistair")
    token = await make_token(alice, "read")

    rendered: list[Any] = []

    async def search(query: str) -> list[str]:
        found = await get_json(app_client, f"/api/v1/accounts/search?{query}", token)
        rendered.extend(found)
        return [a["acct"] for a in found]

    assert await search("q=ali") == ["alice", "alicia", "zed", "alina@remote.test"]
    assert await search("q=alicia") == ["alicia"]
    assert await search("q=alina@remote") == ["alina@remote.test"]
    assert await search("q=@alice@local.test") == ["alice"]
    assert await search("q=ali&limit=1&offset=1") == ["alicia"]
    assert await search("q=%25") == []
    assert await search("q=ali&following=true") == []
    await app_client.app[outbox_key].follow(alice.account, named.account)
    assert await search("q=ali&following=1") == ["zed"]
    assert (await app_client.get("/api/v1/accounts/search?q=ali")).status == 401
    assert_valid(rendered, "Account")


async def test_account_search_resolves_through_webfinger(
    app_client: Client, make_user: CreateUser, make_token: MakeToken, start_peer: StartPeer
) -> None:
    await start_peer("peer.test", MASTODON, "bob")
    alice = await make_user("alice")
    token = await make_token(alice, "read")

    unresolved = await get_json(app_client, "/api/v1/accounts/search?q=bob@peer.test", token)
    resolved = await get_json(
        app_client, "/api/v1/accounts/search?q=@bob@peer.test&resolve=true", token
    )

    assert unresolved == []
    assert [a["acct"] for a in resolved] == ["bob@peer.test"]
    assert resolved[0]["uri"] == "http://peer.test/users/bob"
    assert_valid(resolved, "Account")
