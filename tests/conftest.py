"""Fixtures shared by the whole suite.

`make_config` builds a valid config through the real validation; `app_client` serves the
real `create_app` on loopback behind a test client; `clock` is the only thing mocked
(with id generation, which follows it).
"""

from __future__ import annotations

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
from fedserver.appkeys import clock_key, config_key, ids_key, store_key
from fedserver.config import Config, parse_config
from fedserver.db import LocalUser
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
