"""Sign-up through the API (`POST /api/v1/accounts`, toot's `register`): the three
registration modes, Mastodon-shaped validation errors, reserved names, the per-address
limit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from fedserver.appkeys import store_key
from tests.api.test_oauth import (
    PASSWORD,
    authorization_code,
    bearer,
    count_rows,
    exchange,
    register_app,
)
from tests.conftest import Client, FrozenClock, MakeConfig, StartApp


async def open_instance(
    start_app: StartApp, make_config: MakeConfig, **registrations: Any
) -> tuple[Client, dict[str, Any], str]:
    """An instance with registrations set as given; an app and its client_credentials token."""
    config = make_config(registrations={"mode": "open", **registrations})
    client = await start_app(config)
    app = await register_app(client)
    response = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": "read write follow push",
        },
    )
    token: str = (await response.json())["access_token"]
    return client, app, token


def sign_up(username: str = "newbie", **extra: Any) -> dict[str, Any]:
    return {
        "username": username,
        "email": f"{username}@mail.example",
        "password": PASSWORD,
        "agreement": "true",
        "locale": "en",
        **extra,
    }


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
async def test_open_registration_answers_a_token_for_the_new_user(
    start_app: StartApp, make_config: MakeConfig, clock: FrozenClock, as_json: bool
) -> None:
    client, app, app_token = await open_instance(start_app, make_config)
    body = sign_up(agreement=True) if as_json else sign_up()

    if as_json:
        response = await client.post("/api/v1/accounts", json=body, headers=bearer(app_token))
    else:
        response = await client.post("/api/v1/accounts", data=body, headers=bearer(app_token))

    assert response.status == 200, await response.text()
    token = await response.json()
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "read write follow push"
    assert token["created_at"] == int(clock.now.timestamp())
    check = await client.get(
        "/api/v1/apps/verify_credentials", headers=bearer(token["access_token"])
    )
    assert check.status == 200
    user = await client.app[store_key].accounts.local_user("newbie")
    assert user is not None
    assert user.user.approved
    assert user.user.email == "newbie@mail.example"
    assert not user.user.is_admin
    # The new account signs in like any other.
    code = await authorization_code(client, app, username="newbie")
    assert (await exchange(client, app, code)).status == 200


async def test_approval_mode_creates_an_unapproved_account(
    start_app: StartApp, make_config: MakeConfig
) -> None:
    client, app, app_token = await open_instance(
        start_app, make_config, mode="approval", require_reason=True
    )

    missing = await client.post("/api/v1/accounts", data=sign_up(), headers=bearer(app_token))
    response = await client.post(
        "/api/v1/accounts",
        data=sign_up(reason="I run the bakery down the road"),
        headers=bearer(app_token),
    )

    assert missing.status == 422
    assert (await missing.json())["details"]["reason"][0]["error"] == "ERR_BLANK"
    assert response.status == 200
    user = await client.app[store_key].accounts.local_user("newbie")
    assert user is not None
    assert not user.user.approved
    assert user.user.sign_up_reason == "I run the bakery down the road"
    # The token exists but works only once an administrator approves the account.
    token = (await response.json())["access_token"]
    check = await client.get("/api/v1/apps/verify_credentials", headers=bearer(token))
    assert check.status == 403
    assert "pending approval" in (await check.json())["error"]
    page = await client.get(
        "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": app["client_id"],
            "redirect_uri": app["redirect_uris"][0],
        },
    )
    assert page.status == 200


async def test_reason_is_optional_in_approval_mode_unless_required(
    start_app: StartApp, make_config: MakeConfig
) -> None:
    client, _, app_token = await open_instance(start_app, make_config, mode="approval")

    response = await client.post("/api/v1/accounts", data=sign_up(), headers=bearer(app_token))

    assert response.status == 200


async def test_closed_registrations_are_refused(
    start_app: StartApp, make_config: MakeConfig
) -> None:
    client, _, app_token = await open_instance(start_app, make_config, mode="closed")

    response = await client.post("/api/v1/accounts", data=sign_up(), headers=bearer(app_token))

    assert response.status == 403
    assert "closed" in (await response.json())["error"]
    assert await count_rows(client, "users") == 0


async def test_a_token_with_write_accounts_is_required(
    start_app: StartApp, make_config: MakeConfig
) -> None:
    client, app, _ = await open_instance(start_app, make_config)
    read_only = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": "read",
        },
    )
    read_token = (await read_only.json())["access_token"]

    anonymous = await client.post("/api/v1/accounts", data=sign_up())
    reading = await client.post("/api/v1/accounts", data=sign_up(), headers=bearer(read_token))

    assert anonymous.status == 401
    assert reading.status == 403
    assert await count_rows(client, "users") == 0


async def test_every_validation_problem_at_once(
    start_app: StartApp, make_config: MakeConfig
) -> None:
    client, _, app_token = await open_instance(start_app, make_config)

    response = await client.post(
        "/api/v1/accounts",
        data={"username": "", "email": "", "password": "", "locale": "not a locale"},
        headers=bearer(app_token),
    )

    assert response.status == 422
    body = await response.json()
    assert body["error"].startswith("Validation failed: ")
    assert {
        field: [p["error"] for p in problems] for field, problems in body["details"].items()
    } == {
        "username": ["ERR_BLANK"],
        "email": ["ERR_BLANK"],
        "password": ["ERR_BLANK"],
        "agreement": ["ERR_ACCEPTED"],
        "locale": ["ERR_INCLUSION"],
    }
    assert "Agreement must be accepted" in body["error"]
    assert await count_rows(client, "users") == 0


@pytest.mark.parametrize(
    ("changes", "field", "error"),
    [
        ({"username": "bad name!", "email": "ok@mail.example"}, "username", "ERR_INVALID"),
        ({"username": "-dash", "email": "ok@mail.example"}, "username", "ERR_INVALID"),
        ({"username": "x" * 31, "email": "ok@mail.example"}, "username", "ERR_TOO_LONG"),
        ({"email": "not-an-address"}, "email", "ERR_INVALID"),
        ({"email": "a@b@c.example"}, "email", "ERR_INVALID"),
        ({"password": "short"}, "password", "ERR_TOO_SHORT"),
        ({"password": "x" * 1025}, "password", "ERR_TOO_LONG"),
        ({"agreement": "false"}, "agreement", "ERR_ACCEPTED"),
        ({"agreement": "maybe"}, "agreement", "ERR_ACCEPTED"),
        ({"reason": "x" * 1001}, "reason", "ERR_TOO_LONG"),
    ],
)
async def test_validation_errors(
    start_app: StartApp,
    make_config: MakeConfig,
    changes: dict[str, str],
    field: str,
    error: str,
) -> None:
    client, _, app_token = await open_instance(start_app, make_config)

    response = await client.post(
        "/api/v1/accounts", data=sign_up(**changes), headers=bearer(app_token)
    )

    assert response.status == 422
    details = (await response.json())["details"]
    assert list(details) == [field]
    assert details[field][0]["error"] == error
    assert await count_rows(client, "users") == 0


async def test_taken_username_and_email(start_app: StartApp, make_config: MakeConfig) -> None:
    client, _, app_token = await open_instance(start_app, make_config)
    first = await client.post("/api/v1/accounts", data=sign_up(), headers=bearer(app_token))
    assert first.status == 200

    again = await client.post(
        "/api/v1/accounts",
        data=sign_up("NewBie", email="NEWBIE@mail.example"),
        headers=bearer(app_token),
    )

    assert again.status == 422
    details = (await again.json())["details"]
    assert details["username"][0]["error"] == "ERR_TAKEN"
    assert details["email"][0]["error"] == "ERR_TAKEN"
    assert await count_rows(client, "users") == 1


@pytest.mark.parametrize("username", ["admin", "Admin", "postmaster", "bakery", "local.test"])
async def test_reserved_usernames(
    start_app: StartApp, make_config: MakeConfig, username: str
) -> None:
    reserved = ["admin", "postmaster", "bakery"]
    client, _, app_token = await open_instance(start_app, make_config, reserved_usernames=reserved)

    response = await client.post(
        "/api/v1/accounts", data=sign_up(username), headers=bearer(app_token)
    )

    assert response.status == 422
    body = await response.json()
    assert body["details"]["username"][0]["error"] == "ERR_RESERVED"
    assert "Username is reserved" in body["error"]
    assert await count_rows(client, "users") == 0


async def test_sign_ups_are_limited_per_address(
    start_app: StartApp, make_config: MakeConfig, clock: FrozenClock
) -> None:
    # The trusted proxy lets the test speak for another address.
    config = make_config(
        registrations={"mode": "open"},
        api={"sign_ups_per_30min": 2},
        server={"trusted_proxies": ["127.0.0.1"]},
    )
    client = await start_app(config)
    app = await register_app(client)
    token_response = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": "write:accounts",
        },
    )
    headers = bearer((await token_response.json())["access_token"])

    # Failed attempts count too (as Mastodon's throttle on the path).
    for _ in range(2):
        response = await client.post("/api/v1/accounts", data={}, headers=headers)
        assert response.status == 422
    limited = await client.post("/api/v1/accounts", data=sign_up(), headers=headers)
    elsewhere = await client.post(
        "/api/v1/accounts",
        data=sign_up("elsewhere"),
        headers={**headers, "X-Forwarded-For": "192.0.2.7"},
    )

    assert limited.status == 429
    assert limited.headers["X-RateLimit-Limit"] == "2"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    reset = datetime.fromisoformat(limited.headers["X-RateLimit-Reset"])
    assert clock.now < reset <= clock.now + timedelta(minutes=30)
    assert (reset.minute, reset.second) in ((0, 0), (30, 0))
    assert elsewhere.status == 200
    assert await client.app[store_key].accounts.local_user("newbie") is None

    clock.advance(minutes=30)
    response = await client.post("/api/v1/accounts", data=sign_up(), headers=headers)
    assert response.status == 200
