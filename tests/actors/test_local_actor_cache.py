"""The per-process cache of local actors (fedserver/localactors.py) behind the actor
document and WebFinger: changes made through the server show at once, changes written by
another process within `USER_TTL_SECONDS`, and no read racing a write keeps the old row."""

from __future__ import annotations

from typing import Any

import pytest

from fedserver.appkeys import clock_key, local_actors_key, outbox_key, store_key
from fedserver.db import LocalUser, Store
from fedserver.localactors import USER_TTL_SECONDS, LocalActors
from tests.conftest import Client, CreateUser, MakeToken

pytestmark = pytest.mark.usefixtures("fast_accounts")

AP = "application/activity+json"
WEBFINGER = "/.well-known/webfinger?resource=acct:alice@local.test"


async def actor_of(client: Client, status: int = 200) -> Any:
    response = await client.get("/users/alice", headers={"Accept": AP})
    assert response.status == status, await response.text()
    return await response.json(content_type=AP)


@pytest.fixture
async def alice(make_user: CreateUser) -> LocalUser:
    return await make_user("alice")


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def rename(store: Store, user: LocalUser, display_name: str, now: Any) -> None:
    """A profile change straight through the data layer, as the CLI process writes it."""
    await store.accounts.update_profile(user.account.id, display_name=display_name, now=now)


# -- through the server: at once --------------------------------------------------------


async def test_a_profile_change_through_the_api_shows_in_the_actor_at_once(
    app_client: Client, alice: LocalUser, make_token: MakeToken
) -> None:
    token = await make_token(alice)
    before = await actor_of(app_client)  # cached now, with its encoded document
    assert (before["name"], before["type"]) == ("", "Person")
    assert (await app_client.get(WEBFINGER)).status == 200

    response = await app_client.patch(
        "/api/v1/accounts/update_credentials",
        json={"display_name": "Alice A.", "bot": True},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status == 200, await response.text()

    after = await actor_of(app_client)
    assert (after["name"], after["type"]) == ("Alice A.", "Service")
    assert after["publicKey"] == before["publicKey"]


async def test_a_profile_change_through_update_profile_shows_once_invalidated(
    app_client: Client, alice: LocalUser
) -> None:
    app = app_client.app
    await actor_of(app_client)

    await rename(app[store_key], alice, "Alice B.", app[clock_key]())
    app[local_actors_key].invalidate(alice.account.id)

    assert (await actor_of(app_client))["name"] == "Alice B."


async def test_deleting_through_the_outbox_answers_410_at_once(
    app_client: Client, alice: LocalUser
) -> None:
    app = app_client.app
    await actor_of(app_client)
    assert (await app_client.get(WEBFINGER)).status == 200

    await app[outbox_key].delete_account(alice.account)

    tombstone = await actor_of(app_client, status=410)
    assert tombstone["type"] == "Tombstone"
    assert (await app_client.get(WEBFINGER)).status == 410


# -- another process: within the bound -------------------------------------------------


async def test_a_write_by_another_process_shows_within_the_ttl(
    app_client: Client, alice: LocalUser
) -> None:
    store = app_client.app[store_key]
    time = FakeTime()
    cache = LocalActors(store.accounts, clock=time)
    cached = await cache.user("alice")
    assert cached is not None
    cached.memo["rendered"] = b"old"

    await rename(store, alice, "Alice C.", app_client.app[clock_key]())

    time.now += USER_TTL_SECONDS * 0.9
    still = await cache.user("ALICE")  # same entry: names are case-insensitive
    assert still is cached
    assert still.user.account.display_name == ""
    time.now += USER_TTL_SECONDS * 0.2
    fresh = await cache.user("alice")
    assert fresh is not None
    assert fresh.user.account.display_name == "Alice C."
    assert fresh.memo == {}  # what was rendered from the old row went with it


async def test_a_read_racing_an_invalidation_is_not_kept(
    app_client: Client, alice: LocalUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = app_client.app[store_key]
    cache = LocalActors(store.accounts, clock=FakeTime())
    original = store.accounts.local_user
    loads = 0

    async def racing(username: str) -> LocalUser | None:
        nonlocal loads
        loads += 1
        row = await original(username)
        if loads == 1:
            cache.invalidate(alice.account.id)  # a write committed while this read ran
        return row

    monkeypatch.setattr(store.accounts, "local_user", racing)
    assert await cache.user("alice") is not None
    assert await cache.user("alice") is not None
    assert loads == 2  # the first row was served but not stored
    assert await cache.user("alice") is not None
    assert loads == 2


async def test_unknown_and_non_ascii_names_are_not_cached(
    app_client: Client, make_user: CreateUser
) -> None:
    store = app_client.app[store_key]
    cache = LocalActors(store.accounts, clock=FakeTime())
    assert await cache.user("kate") is None
    await make_user("kate")
    assert await cache.user("kate") is not None  # a new user is found at once
    # SQLite's lower() does not fold the Kelvin sign, str.lower() does: the cache must
    # not answer for a name the database would not match.
    assert await cache.user("\u212aate") is None


async def test_public_keys_are_parsed_once_and_dropped_by_invalidate(
    app_client: Client, alice: LocalUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = app_client.app[store_key]
    cache = LocalActors(store.accounts, clock=FakeTime())
    original = store.accounts.keypairs
    loads = 0

    async def counted(account_id: int | None) -> Any:
        nonlocal loads
        loads += 1
        return await original(account_id)

    monkeypatch.setattr(store.accounts, "keypairs", counted)
    first = await cache.public_keys(alice.account.id)
    assert await cache.public_keys(alice.account.id) is first
    assert loads == 1
    cache.invalidate(alice.account.id)
    assert await cache.public_keys(alice.account.id) == first
    assert loads == 2
