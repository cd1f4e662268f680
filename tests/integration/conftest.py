"""Several real fedserver instances in one test, federating over loopback HTTP.

`instances("a", "b")` starts `create_app` for `a.test` and `b.test` (each with its own
database), registers their ports with the shared fake resolver, and returns a `Network`
of them. Nothing is mocked but DNS and the clock: activities leave through each
instance's delivery worker, arrive signed at the other's inbox, are verified with keys
fetched over HTTP, and are processed by its inbox worker.

`Network.settle()` drives all the workers until every queue is empty, so a test reads
like the story it tells: act on one side, settle, assert on every side. The background
loops the apps start keep running too; `run_once` of either worker waits for what they
are doing, so settling is deterministic about the end state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from fedserver.appkeys import (
    clock_key,
    delivery_worker_key,
    inbox_worker_key,
    outbox_key,
    remote_actors_key,
    store_key,
)
from fedserver.db import AccountRow, NotificationRow, StatusRow, Store, Window
from outbox.service import Outbox
from tests.conftest import Client, FrozenClock, MakeConfig, StartApp
from tests.fakes.delivery import add_user
from tests.fakes.resolver import FakeResolver

#: Rounds of "run every worker" before settling gives up (a ping-pong would be a bug).
MAX_SETTLE_ROUNDS = 50


@pytest.fixture(autouse=True)
def _fast_accounts(fast_accounts: None) -> None:
    """Every test here creates several actors: keys from the pool (tests/conftest.py)."""


@dataclass
class Instance:
    """One running fedserver and handy views of its state."""

    name: str
    client: Client
    users: dict[str, AccountRow] = field(default_factory=dict)

    @property
    def app(self) -> web.Application:
        return self.client.app

    @property
    def domain(self) -> str:
        return f"{self.name}.test"

    @property
    def base_url(self) -> str:
        return f"http://{self.domain}"

    @property
    def store(self) -> Store:
        return self.app[store_key]

    @property
    def outbox(self) -> Outbox:
        return self.app[outbox_key]

    def uri(self, username: str) -> str:
        return f"{self.base_url}/users/{username}"

    def status_uri(self, username: str, status: StatusRow) -> str:
        return status.uri or f"{self.uri(username)}/statuses/{status.id}"

    async def user(self, username: str) -> AccountRow:
        """Create a local user; returns its account."""
        created = await add_user(self.client, username)
        self.users[username] = created.account
        return created.account

    async def local(self, username: str) -> AccountRow:
        """A local account as stored now (flags and profile may have changed)."""
        found = await self.store.accounts.local_user(username)
        assert found is not None, username
        return found.account

    async def resolve(self, acct: str) -> AccountRow:
        """`user@host` through WebFinger and the actor fetch, as a person searching would."""
        return await self.app[remote_actors_key].resolve_acct(acct)

    async def account(self, uri: str) -> AccountRow | None:
        """The stored account of an actor URI (remote), without fetching."""
        return await self.store.remote_accounts.by_uri(uri)

    async def status(self, uri: str) -> StatusRow | None:
        return await self.store.statuses.by_uri(uri)

    async def notifications(self, username: str) -> list[NotificationRow]:
        return await self.store.timelines.notifications(
            (await self.local(username)).id,
            Window(limit=80),
            types=[],
            exclude_types=[],
            from_account_id=None,
        )

    async def notification_kinds(self, username: str) -> list[str]:
        return sorted(n.type for n in await self.notifications(username))

    async def home(self, username: str) -> list[StatusRow]:
        account = await self.local(username)
        return await self.store.timelines.home(account.id, Window(limit=20))

    async def inbox_log(self) -> list[tuple[str, str, str | None]]:
        """(type, state, note) of every received activity, oldest first: the first thing
        to print when an assertion about processing fails."""
        items = await self.store.inbox.items(limit=1000)
        return [(i.activity_type, i.state, i.last_error) for i in reversed(items)]

    async def delivery_log(self) -> list[tuple[str, str, str]]:
        """(activity id, inbox, state) of every delivery row, oldest first."""
        rows = await self.store.db.fetch_all(
            "SELECT o.activity_id, d.inbox_url, d.state FROM deliveries d"
            " JOIN outgoing_activities o ON o.id = d.outgoing_activity_id ORDER BY d.id"
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def is_idle(self) -> bool:
        now = self.app[clock_key]()
        return (
            not await self.store.inbox.due(now, 1)
            and not await self.store.deliveries.due(now, 1)
            and self.app[delivery_worker_key].in_flight == 0
        )


@dataclass
class Network:
    instances: dict[str, Instance]
    clock: FrozenClock

    def __getitem__(self, name: str) -> Instance:
        return self.instances[name]

    async def settle(self) -> None:
        """Run every delivery and inbox worker until nothing is due anywhere (twice in a
        row, so that an activity moving between instances while one was being checked
        is not missed)."""
        idle_rounds = 0
        for _ in range(MAX_SETTLE_ROUNDS):
            handled = 0
            for instance in self.instances.values():
                app = instance.app
                handled += await app[delivery_worker_key].run_until_idle(self.clock())
                handled += await app[inbox_worker_key].run_once()
            idle = [await i.is_idle() for i in self.instances.values()]
            idle_rounds = idle_rounds + 1 if not handled and all(idle) else 0
            if idle_rounds == 2:
                await self.assert_no_retries()
                return
            await asyncio.sleep(0)  # let background loops and servers take their turn
        raise AssertionError("the instances never settled: activities keep flowing")

    async def assert_no_retries(self) -> None:
        """Nothing is waiting for a retry: a retry means an error a test should see."""
        for instance in self.instances.values():
            waiting = [i for i in await instance.store.inbox.items(limit=1000) if i.attempts]
            waiting = [i for i in waiting if i.state == "pending"]
            assert not waiting, [(i.activity_type, i.last_error) for i in waiting]
            pending = [d for d in await instance.delivery_log() if d[2] == "pending"]
            assert not pending, (instance.name, pending, await instance.delivery_log())


StartNetwork = Callable[..., Awaitable[Network]]


@pytest.fixture
def instances(
    make_config: MakeConfig, start_app: StartApp, resolver: FakeResolver, clock: FrozenClock
) -> StartNetwork:
    """`await instances("a", "b", b={"federation": {...}})`: a Network of running apps."""

    async def start(*names: str, **sections: dict[str, Any]) -> Network:
        network = Network({}, clock)
        for name in names:
            client = await start_app(make_config(name, **sections.get(name, {})))
            assert client.server.port is not None
            resolver.hosts[f"{name}.test"] = client.server.port
            network.instances[name] = Instance(name, client)
        return network

    return start
