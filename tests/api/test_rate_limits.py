"""Rate limits (SECURITY.md checklist 27: "test every throttle with a request that should
trip it"): the unauthenticated API flood per address, per token, sign-in attempts per
address and per account, the headers Mastodon.py parses, windows that end, a cap on
the buckets kept."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from fedserver.api.ratelimit import FixedWindow, address_key
from tests.api.test_oauth import (
    CALLBACK,
    PASSWORD,
    add_user,
    app_token,
    bearer,
    consent_form,
    count_rows,
    register_app,
    submit,
)
from tests.conftest import Client, FrozenClock, MakeConfig, StartApp

PROXIED = {"server": {"trusted_proxies": ["127.0.0.1"]}}


def from_address(address: str) -> dict[str, str]:
    """Speak for `address` through the trusted proxy (the test client is 127.0.0.1)."""
    return {"X-Forwarded-For": address}


def assert_limited(response: Any, limit: int) -> datetime:
    assert response.status == 429
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    reset = datetime.fromisoformat(response.headers["X-RateLimit-Reset"])
    assert int(response.headers["Retry-After"]) >= 1
    return reset


async def test_unauthenticated_flood_is_refused_with_429(
    app_client: Client, clock: FrozenClock
) -> None:
    """Checklist 27 with the default limit: > 300 requests / 5 min from one address."""
    for number in range(1, 301):
        response = await app_client.get("/api/v1/apps/verify_credentials")
        assert response.status == 401
        assert response.headers["X-RateLimit-Remaining"] == str(300 - number)

    response = await app_client.get("/api/v1/apps/verify_credentials")

    reset = assert_limited(response, 300)
    assert clock.now < reset <= clock.now + timedelta(minutes=5)
    assert response.content_type == "application/json"
    assert (await response.json())["code"] == "rate_limited"
    # Browsers can read the refusal (CORS is outside the limiter).
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    # Every path under /api/ and /oauth/ shares the address's budget.
    assert (await app_client.post("/api/v1/apps", data={})).status == 429
    assert (await app_client.get("/oauth/authorize")).status == 429
    # Pages and discovery are not counted.
    assert (await app_client.get("/")).status == 200
    assert (await app_client.get("/.well-known/oauth-authorization-server")).status == 200

    clock.now = reset
    response = await app_client.get("/api/v1/apps/verify_credentials")
    assert response.status == 401
    assert response.headers["X-RateLimit-Remaining"] == "299"


async def test_headers_on_every_limited_response(
    start_app: StartApp, make_config: MakeConfig, clock: FrozenClock
) -> None:
    client = await start_app(make_config(api={"unauthenticated_requests_per_5min": 10}))

    response = await client.get("/.well-known/oauth-authorization-server")
    assert "X-RateLimit-Limit" not in response.headers
    response = await client.post(
        "/api/v1/apps", data={"client_name": "x", "redirect_uris": CALLBACK}
    )

    assert response.status == 200
    assert response.headers["X-RateLimit-Limit"] == "10"
    assert response.headers["X-RateLimit-Remaining"] == "9"
    reset = datetime.fromisoformat(response.headers["X-RateLimit-Reset"])
    # Windows are aligned on the clock, like Mastodon's.
    assert reset.minute % 5 == 0
    assert reset.second == 0
    assert "X-RateLimit-Reset" in response.headers["Access-Control-Expose-Headers"]


async def test_unauthenticated_limit_is_per_address_and_ipv6_per_64(
    start_app: StartApp, make_config: MakeConfig
) -> None:
    client = await start_app(make_config(api={"unauthenticated_requests_per_5min": 2}, **PROXIED))

    async def status(address: str) -> int:
        response = await client.get(
            "/api/v1/apps/verify_credentials", headers=from_address(address)
        )
        return response.status

    assert [await status("2001:db8:1:2::1"), await status("2001:db8:1:2:ffff::9")] == [401, 401]
    assert await status("2001:db8:1:2::77") == 429  # the same /64
    assert await status("2001:db8:1:3::1") == 401  # the next /64
    assert [await status("192.0.2.1"), await status("192.0.2.1")] == [401, 401]
    assert await status("::ffff:192.0.2.1") == 429  # the same IPv4 address, mapped
    assert await status("192.0.2.2") == 401


async def test_per_token_limit(start_app: StartApp, make_config: MakeConfig) -> None:
    client = await start_app(
        make_config(
            api={"authenticated_requests_per_5min": 3, "unauthenticated_requests_per_5min": 100}
        )
    )
    app = await register_app(client)
    first = await app_token(client, app)
    second = await app_token(client, app)

    for remaining in (2, 1, 0):
        response = await client.get("/api/v1/apps/verify_credentials", headers=bearer(first))
        assert response.status == 200
        assert response.headers["X-RateLimit-Remaining"] == str(remaining)
    limited = await client.get("/api/v1/apps/verify_credentials", headers=bearer(first))

    assert_limited(limited, 3)
    # Another token, and requests without one, have their own budgets.
    response = await client.get("/api/v1/apps/verify_credentials", headers=bearer(second))
    assert response.status == 200
    assert response.headers["X-RateLimit-Limit"] == "3"
    response = await client.get("/api/v1/apps/verify_credentials")
    assert response.headers["X-RateLimit-Limit"] == "100"


async def test_made_up_tokens_count_against_the_address(
    start_app: StartApp, make_config: MakeConfig
) -> None:
    client = await start_app(make_config(api={"unauthenticated_requests_per_5min": 3}))

    statuses = [
        (
            await client.get("/api/v1/apps/verify_credentials", headers=bearer(f"made-up-{number}"))
        ).status
        for number in range(4)
    ]

    assert statuses == [401, 401, 401, 429]


async def test_a_limit_of_zero_turns_it_off(start_app: StartApp, make_config: MakeConfig) -> None:
    client = await start_app(make_config(api={"unauthenticated_requests_per_5min": 0}))

    for _ in range(5):
        response = await client.get("/api/v1/apps/verify_credentials")
        assert response.status == 401
        assert "X-RateLimit-Limit" not in response.headers


# -- sign-in attempts -------------------------------------------------------------------


async def password_attempt(
    client: Client, app: dict[str, Any], username: str, password: str, address: str
) -> Any:
    return await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "username": username,
            "password": password,
            "scope": "read",
        },
        headers=from_address(address),
    )


@pytest.fixture
async def sign_in_instance(start_app: StartApp, make_config: MakeConfig) -> Client:
    config = make_config(
        api={
            "password_grant": True,
            "sign_in_attempts_per_5min": 3,
            "unauthenticated_requests_per_5min": 1000,
        },
        **PROXIED,
    )
    client = await start_app(config)
    await add_user(client, "alice", email="alice@mail.example")
    await add_user(client, "bob")
    return client


async def test_sign_in_attempts_are_limited_per_address(
    sign_in_instance: Client, clock: FrozenClock
) -> None:
    client = sign_in_instance
    app = await register_app(client)

    for username in ("alice", "bob", "nobody"):
        response = await password_attempt(client, app, username, "wrong password", "192.0.2.1")
        assert response.status == 400
    # The right password does not help once the address is over its limit.
    limited = await password_attempt(client, app, "carol", PASSWORD, "192.0.2.1")
    elsewhere = await password_attempt(client, app, "alice", PASSWORD, "192.0.2.2")

    reset = assert_limited(limited, 3)
    assert elsewhere.status == 200
    clock.now = reset
    response = await password_attempt(client, app, "bob", PASSWORD, "192.0.2.1")
    assert response.status == 200


async def test_sign_in_attempts_are_limited_per_account(sign_in_instance: Client) -> None:
    client = sign_in_instance
    app = await register_app(client)

    # Three addresses, one account, named by username or by e-mail.
    for number, username in enumerate(("alice", "alice@mail.example", "@alice")):
        response = await password_attempt(
            client, app, username, "wrong password", f"192.0.2.{10 + number}"
        )
        assert response.status == 400
    limited = await password_attempt(client, app, "ALICE", PASSWORD, "192.0.2.99")
    other_account = await password_attempt(client, app, "bob", PASSWORD, "192.0.2.99")

    assert_limited(limited, 3)
    assert other_account.status == 200


async def test_authorize_page_sign_in_is_limited(sign_in_instance: Client) -> None:
    client = sign_in_instance
    app = await register_app(client, redirect_uris=CALLBACK)
    fields = await consent_form(client, app)

    for _ in range(3):
        response = await submit(client, fields, password="wrong password")
        assert response.status == 422
    limited = await submit(client, fields)

    assert limited.status == 429
    assert "Too many sign-in attempts" in await limited.text()
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    datetime.fromisoformat(limited.headers["X-RateLimit-Reset"])
    assert "Location" not in limited.headers
    assert await count_rows(client, "oauth_codes") == 0


# -- the limiter itself -------------------------------------------------------------------


def test_buckets_are_capped(clock: FrozenClock) -> None:
    window = FixedWindow(5, timedelta(minutes=5), clock, max_buckets=100)

    for number in range(1000):
        window.hit(f"192.0.2.{number}")

    assert len(window) == 100


def test_fixed_window_counts_and_resets(clock: FrozenClock) -> None:
    window = FixedWindow(2, timedelta(minutes=5), clock)

    verdicts = [window.hit("a") for _ in range(3)]

    assert [v.allowed for v in verdicts if v] == [True, True, False]
    assert [v.remaining for v in verdicts if v] == [1, 0, 0]
    reset = verdicts[0].reset if verdicts[0] else clock.now
    clock.now = reset
    again = window.hit("a")
    assert again is not None
    assert again.allowed
    assert again.reset == reset + timedelta(minutes=5)
    assert FixedWindow(0, timedelta(minutes=5), clock).hit("a") is None


@pytest.mark.parametrize(
    ("remote", "key"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::/64"),
        ("2001:db8:0:0:ffff::1", "2001:db8::/64"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("fe80::1%eth0", "fe80::/64"),
        (None, "unknown"),
    ],
)
def test_address_keys(remote: str | None, key: str) -> None:
    assert address_key(remote) == key
