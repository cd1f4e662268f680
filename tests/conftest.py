"""Fixtures shared by the whole suite.

`make_config` builds a valid config through the real validation; `app_client` serves the
real `create_app` on loopback behind a test client; `clock` is the only thing mocked
(with id generation, which follows it).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from actors.service import create_user
from fedserver.app import create_app
from fedserver.appkeys import (
    clock_key,
    config_key,
    ids_key,
    local_actors_key,
    remote_actors_key,
    store_key,
)
from fedserver.config import Config, parse_config
from fedserver.db import LocalUser
from fedserver.ids import isoformat
from tests.fakes.resolver import FakeResolver

START = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)

Client = TestClient[web.Request, web.Application]


class FrozenClock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class MakeConfig(Protocol):
    def __call__(self, name: str = ..., **sections: dict[str, Any]) -> Config: ...


def merge(base: dict[str, Any], extra: dict[str, dict[str, Any]]) -> dict[str, Any]:
    merged = {section: dict(values) for section, values in base.items()}
    for section, values in extra.items():
        merged.setdefault(section, {}).update(values)
    return merged


@pytest.fixture
def make_config(tmp_path: Path) -> MakeConfig:
    """A valid config for a test instance named `<name>.test`, with its own database."""

    def make(name: str = "local", **sections: dict[str, Any]) -> Config:
        domain = f"{name}.test"
        base = {
            "instance": {"domain": domain, "base_url": f"http://{domain}", "name": name},
            "database": {"path": str(tmp_path / f"{name}.sqlite3")},
            # Tests talk to peers on loopback over http; production keeps both off.
            "federation": {"allow_http": True, "allow_private_addresses": True},
        }
        return parse_config(merge(base, sections), source=f"<{name}>")

    return make


@pytest.fixture
def config(make_config: MakeConfig) -> Config:
    return make_config()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def resolver() -> FakeResolver:
    """Fake DNS for `*.test` names (created inside the running loop)."""
    return FakeResolver()


@pytest.fixture
async def app_client(
    aiohttp_client: AiohttpClient, config: Config, clock: FrozenClock, resolver: FakeResolver
) -> Client:
    """Our server, with its cleanup contexts run, behind a test client."""
    return await aiohttp_client(create_app(config, resolver=resolver, clock=clock))


CreateUser = Callable[..., Awaitable[LocalUser]]


@pytest.fixture
def make_user(app_client: Client) -> CreateUser:
    """Create a local user in the running app (`await make_user("alice")`)."""

    async def make(username: str, **options: Any) -> LocalUser:
        app = app_client.app
        return await create_user(
            app[store_key],
            app[ids_key],
            app[clock_key](),
            username=username,
            password=options.pop("password", "correct horse battery"),
            email=options.pop("email", None),
            is_admin=options.pop("is_admin", False),
            approved=options.pop("approved", True),
            reserved={app[config_key].instance.host},
        )

    return make


StartApp = Callable[[Config], Awaitable[Client]]


@pytest.fixture
def start_app(
    aiohttp_client: AiohttpClient, clock: FrozenClock, resolver: FakeResolver
) -> StartApp:
    """Serve the real `create_app` for a config other than `config` (`await start_app(cfg)`)."""

    async def start(config: Config) -> Client:
        return await aiohttp_client(create_app(config, resolver=resolver, clock=clock))

    return start


class Rows:
    """Writes rows straight into the running app's database, for states that no endpoint
    creates yet (remote accounts, follows, statuses, profile details)."""

    #: The account columns `update_account` may set (names are interpolated into SQL).
    ACCOUNT_COLUMNS = frozenset(
        {
            "display_name",
            "summary",
            "fields",
            "moved_to_uri",
            "avatar_url",
            "header_url",
            "also_known_as",
            "manually_approves_followers",
            "discoverable",
            "indexable",
            "bot",
        }
    )

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.store = app[store_key]
        self.new_id = app[ids_key]
        self.clock = app[clock_key]

    async def remote_account(self, username: str, domain: str = "remote.test") -> int:
        """A remote actor at `https://<domain>/users/<username>`; returns its account id."""
        account_id = self.new_id()
        stamp = isoformat(self.clock())
        async with self.store.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO accounts (id, username, domain, uri, inbox_url, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    account_id,
                    username,
                    domain,
                    f"https://{domain}/users/{username}",
                    f"https://{domain}/users/{username}/inbox",
                    stamp,
                    stamp,
                ),
            )
        return account_id

    async def follow(self, follower_id: int, target_id: int, *, state: str = "accepted") -> int:
        """`follower_id` follows `target_id`; returns the follow's id."""
        follow_id = self.new_id()
        async with self.store.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO follows (id, account_id, target_account_id, state, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (follow_id, follower_id, target_id, state, isoformat(self.clock())),
            )
        return follow_id

    async def status(
        self,
        account_id: int,
        content: str = "<p>hello</p>",
        *,
        visibility: str = "public",
        spoiler_text: str = "",
    ) -> int:
        """A status of `account_id`, stored as given (not sanitised); returns its id."""
        status_id = self.new_id()
        async with self.store.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO statuses (id, account_id, content, spoiler_text, visibility,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    status_id,
                    account_id,
                    content,
                    spoiler_text,
                    visibility,
                    isoformat(self.clock()),
                ),
            )
        return status_id

    async def update_account(self, account_id: int, **columns: Any) -> None:
        """Set account columns directly (lists and dicts are stored as JSON). Like the
        data layer's writers, it drops the app's cache of local actors."""
        assert set(columns) <= self.ACCOUNT_COLUMNS, set(columns) - self.ACCOUNT_COLUMNS
        assignments = ", ".join(f"{name} = ?" for name in columns)
        values = [
            json.dumps(value) if isinstance(value, list | dict) else value
            for value in columns.values()
        ]
        async with self.store.db.transaction() as tx:
            changed = await tx.execute(
                f"UPDATE accounts SET {assignments} WHERE id = ?", (*values, account_id)
            )
        assert changed == 1
        self.app[local_actors_key].invalidate(account_id)
        # Written behind the app's back: its in-memory copies of accounts must go.
        remote_actors = self.app.get(remote_actors_key)
        if remote_actors is not None:
            remote_actors.forget_all()


@pytest.fixture
def rows(app_client: Client) -> Rows:
    """Direct writes into the database of `app_client`'s app."""
    return Rows(app_client.app)


StartPeer = Callable[..., Awaitable[Any]]


@pytest.fixture
def start_peer(aiohttp_server: Any, resolver: FakeResolver, clock: FrozenClock) -> StartPeer:
    """Start a fake remote server (tests/fakes/remote.py) reachable as http://<domain>."""
    from tests.fakes.remote import FakePeer, Style

    async def start(domain: str, style: Style, *actor_names: str) -> FakePeer:
        peer = FakePeer(domain, style, clock)
        for name in actor_names:
            peer.add_actor(name)
        server = await aiohttp_server(peer.app)
        resolver.hosts[domain] = server.port
        return peer

    return start


MakeToken = Callable[..., Awaitable[str]]


@pytest.fixture
def make_token(app_client: Client) -> MakeToken:
    """A real stored OAuth token for a local user (`await make_token(user, "read write")`),
    for tests of endpoints; the OAuth flows themselves are tested in tests/api/test_oauth*."""
    import secrets

    async def make(user: LocalUser, scopes: str = "read write follow push") -> str:
        app = app_client.app
        store = app[store_key]
        new_id = app[ids_key]
        now = app[clock_key]()
        oauth_app = await store.oauth.create_app(
            app_id=new_id(),
            name="test client",
            website=None,
            redirect_uris=["urn:ietf:wg:oauth:2.0:oob"],
            scopes=scopes,
            client_id=secrets.token_urlsafe(16),
            client_secret=secrets.token_urlsafe(16),
            now=now,
        )
        token = secrets.token_urlsafe(32)
        await store.oauth.create_token(
            token_id=new_id(),
            token=token,
            app_id=oauth_app.id,
            user_id=user.user.id,
            scopes=scopes,
            now=now,
        )
        return token

    return make


# -- fast accounts (multi-actor federation tests) -----------------------------------------

#: Distinct key pairs handed out per test (instance actors and users): more than any test
#: creates, so no two actors in one test share a key.
KEY_POOL_SIZE = 16


@pytest.fixture(scope="session")
def key_pool() -> list[Any]:
    """RSA + Ed25519 pairs generated once per run, lazily (RSA generation is slow)."""
    return []


@pytest.fixture
def fast_accounts(monkeypatch: pytest.MonkeyPatch, key_pool: list[Any]) -> None:
    """Creating instances and users takes keys from `key_pool` and hashes passwords
    cheaply: a federation test creates several actors, and fresh RSA-2048 keys plus
    scrypt would dominate its run time. Signing, verifying and key documents are
    unchanged. Use with `pytestmark = pytest.mark.usefixtures("fast_accounts")`."""
    import itertools

    import actors.service
    import fedserver.app
    from fedserver.keypairs import GeneratedKeyPair, generate_keypairs

    counter = itertools.count()

    def pooled() -> list[GeneratedKeyPair]:
        index = next(counter)
        assert index < KEY_POOL_SIZE, "raise KEY_POOL_SIZE"
        while len(key_pool) <= index:
            key_pool.append(generate_keypairs())
        pair: list[GeneratedKeyPair] = key_pool[index]
        return pair

    monkeypatch.setattr(actors.service, "generate_keypairs", pooled)
    monkeypatch.setattr(fedserver.app, "generate_keypairs", pooled)
    monkeypatch.setattr(actors.service, "hash_password", lambda password: "scrypt$test")
