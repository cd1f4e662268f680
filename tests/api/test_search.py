"""GET /api/v2/search: local accounts and hashtags without a token, `user@host` through
WebFinger and URLs fetched from their origin with `resolve=true` (a user's token only),
statuses by URL under the visibility rules; results checked against the Search schema."""

from __future__ import annotations

from typing import Any

from actors.service import create_user
from fedserver.appkeys import clock_key, config_key, ids_key, outbox_key, store_key
from fedserver.db import LocalUser
from tests.api.openapi import assert_valid
from tests.conftest import (
    Client,
    CreateUser,
    MakeConfig,
    MakeToken,
    Rows,
    StartApp,
    StartPeer,
)
from tests.fakes.remote import MASTODON
from tests.fakes.resolver import FakeResolver


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def search(
    client: Client, query: str, token: str | None = None, status: int = 200
) -> dict[str, Any]:
    response = await client.get(f"/api/v2/search?{query}", headers=auth(token))
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    return body


def accts(results: dict[str, Any]) -> list[str]:
    return [a["acct"] for a in results["accounts"]]


async def test_local_search_needs_no_token(
    app_client: Client, make_user: CreateUser, rows: Rows
) -> None:
    await make_user("alice")
    await make_user("alicia")
    await rows.remote_account("alina")

    found = await search(app_client, "q=ali")
    typed = await search(app_client, "q=ali&type=accounts&limit=2")

    assert accts(found) == ["alice", "alicia", "alina@remote.test"]
    assert (found["statuses"], found["hashtags"]) == ([], [])
    assert accts(typed) == ["alice", "alicia"]
    assert (await search(app_client, "q="))["accounts"] == []
    assert (await search(app_client, "q=ali&type=statuses"))["accounts"] == []
    assert_valid([found, typed], "Search")


async def test_resolve_and_offset_need_a_user(
    app_client: Client, make_user: CreateUser, make_token: MakeToken
) -> None:
    alice = await make_user("alice")

    body = await search(app_client, "q=bob@peer.test&resolve=true", status=401)
    assert "authentication" in body["error"]
    await search(app_client, "q=alice&offset=1", status=401)
    await search(app_client, "q=alice", token=await make_token(alice, "write"), status=403)
    await search(app_client, "q=alice", token=await make_token(alice, "read:search"))


async def test_resolve_a_remote_account_through_webfinger(
    app_client: Client, make_user: CreateUser, make_token: MakeToken, start_peer: StartPeer
) -> None:
    """Mastodon.py's follow-by-name: search?q=...&resolve=1&exclude_unreviewed=1&type=accounts."""
    peer = await start_peer("peer.test", MASTODON, "bob")
    alice = await make_user("alice")
    token = await make_token(alice, "read")

    before = await search(app_client, "q=bob@peer.test", token)
    found = await search(
        app_client,
        "q=%40bob%40peer.test&resolve=1&exclude_unreviewed=1&type=accounts",
        token,
    )
    unknown = await search(app_client, "q=nobody@peer.test&resolve=true", token)
    known = await search(app_client, "q=bob@peer.test", token)

    assert before["accounts"] == []
    assert accts(found) == ["bob@peer.test"]
    assert found["accounts"][0]["uri"] == peer.actor_uri("bob")
    assert found["accounts"][0]["display_name"] == "Bob"
    assert unknown["accounts"] == []
    assert accts(known) == ["bob@peer.test"]
    assert_valid([before, found, unknown, known], "Search")


async def test_resolve_an_actor_url(
    app_client: Client, make_user: CreateUser, make_token: MakeToken, start_peer: StartPeer
) -> None:
    peer = await start_peer("peer.test", MASTODON, "bob")
    token = await make_token(await make_user("alice"), "read")

    unresolved = await search(app_client, f"q={peer.actor_uri('bob')}", token)
    found = await search(app_client, f"q={peer.actor_uri('bob')}&resolve=true", token)
    missing = await search(app_client, f"q={peer.actor_uri('nobody')}&resolve=true", token)

    assert unresolved["accounts"] == []
    assert accts(found) == ["bob@peer.test"]
    assert missing["accounts"] == []
    assert_valid([unresolved, found, missing], "Search")


async def test_hashtags(app_client: Client, make_user: CreateUser) -> None:
    alice = await make_user("alice")
    outbox = app_client.app[outbox_key]
    await outbox.post(alice.account, "about #Fediverse and #fedora and #cats")

    found = await search(app_client, "q=fedi")
    typed = await search(app_client, "q=%23FED&type=hashtags")

    assert [t["name"] for t in found["hashtags"]] == ["fediverse"]
    assert found["hashtags"][0]["url"] == "http://local.test/tags/fediverse"
    assert [t["name"] for t in typed["hashtags"]] == ["fediverse", "fedora"]
    assert typed["accounts"] == []
    assert_valid([found, typed], "Search")
    assert_valid(found["hashtags"], "Tag")


async def test_local_urls_respect_visibility(
    app_client: Client, make_user: CreateUser, make_token: MakeToken, rows: Rows
) -> None:
    alice = await make_user("alice")
    follower = await make_user("follower")
    stranger = await make_user("stranger")
    await rows.follow(follower.account.id, alice.account.id)
    outbox = app_client.app[outbox_key]
    public = await outbox.post(alice.account, "for everyone")
    private = await outbox.post(alice.account, "for followers", visibility="private")

    def ids(results: dict[str, Any]) -> list[str]:
        return [s["id"] for s in results["statuses"]]

    page = f"http://local.test/@alice/{public.id}"
    assert ids(await search(app_client, f"q={page}")) == [str(public.id)]
    object_id = f"http://local.test/users/alice/statuses/{private.id}"
    assert ids(await search(app_client, f"q={object_id}")) == []
    stranger_token = await make_token(stranger, "read")
    assert ids(await search(app_client, f"q={object_id}", stranger_token)) == []
    follower_token = await make_token(follower, "read")
    assert ids(await search(app_client, f"q={object_id}", follower_token)) == [str(private.id)]
    profile = await search(app_client, "q=http://local.test/@alice")
    assert accts(profile) == ["alice"]
    assert accts(await search(app_client, "q=http://local.test/users/alice")) == ["alice"]
    assert_valid(profile, "Search")


async def start_instance(
    start_app: StartApp, make_config: MakeConfig, resolver: FakeResolver, name: str
) -> Client:
    client = await start_app(make_config(name))
    assert client.server.port is not None
    resolver.hosts[f"{name}.test"] = client.server.port
    return client


async def add_user(client: Client, username: str) -> LocalUser:
    app = client.app
    return await create_user(
        app[store_key],
        app[ids_key],
        app[clock_key](),
        username=username,
        password="correct horse battery",
        email=None,
        is_admin=False,
        approved=True,
        reserved={app[config_key].instance.host},
    )


async def test_resolve_a_status_url_on_another_instance(
    app_client: Client,
    make_user: CreateUser,
    make_token: MakeToken,
    start_app: StartApp,
    make_config: MakeConfig,
    resolver: FakeResolver,
) -> None:
    """The status is fetched from its origin (another fedserver on loopback), by its id
    or by its page URL, and stored with its author."""
    other = await start_instance(start_app, make_config, resolver, "other")
    carol = await add_user(other, "carol")
    posted = await other.app[outbox_key].post(carol.account, "hello from the other side")
    hidden = await other.app[outbox_key].post(carol.account, "friends only", visibility="private")
    token = await make_token(await make_user("alice"), "read")
    object_id = f"http://other.test/users/carol/statuses/{posted.id}"

    unresolved = await search(app_client, f"q={object_id}", token)
    # The page URL redirects to the object id, whose document is then fetched again.
    by_page = await search(app_client, f"q=http://other.test/@carol/{posted.id}&resolve=1", token)
    by_id = await search(app_client, f"q={object_id}", token)  # known now
    private = await search(
        app_client, f"q=http://other.test/users/carol/statuses/{hidden.id}&resolve=1", token
    )
    profile = await search(app_client, "q=http://other.test/@carol&resolve=1", token)

    assert unresolved["statuses"] == []
    assert [s["uri"] for s in by_id["statuses"]] == [object_id]
    assert by_id["statuses"][0]["account"]["acct"] == "carol@other.test"
    assert "hello from the other side" in by_id["statuses"][0]["content"]
    assert by_page["statuses"] == by_id["statuses"]
    assert private["statuses"] == []
    assert accts(profile) == ["carol@other.test"]
    assert_valid([unresolved, by_page, by_id, private, profile], "Search")
