"""The instance through the client API (v1 and v2, peers, rules), custom emoji,
preferences and timeline markers; entities checked against the OpenAPI schemas."""

from __future__ import annotations

import re
from typing import Any

from fedserver.appkeys import outbox_key
from tests.api.openapi import assert_valid
from tests.conftest import Client, CreateUser, FrozenClock, MakeConfig, MakeToken, Rows, StartApp


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def get_json(client: Client, path: str, token: str | None = None, status: int = 200) -> Any:
    response = await client.get(path, headers=auth(token) if token else {})
    assert response.status == status, await response.text()
    return await response.json()


async def test_instance_v1(app_client: Client, make_user: CreateUser, rows: Rows) -> None:
    alice = await make_user("alice")
    await app_client.app[outbox_key].post(alice.account, "hello")
    await rows.remote_account("bob", "one.test")
    await rows.remote_account("carol", "two.test")

    instance = await get_json(app_client, "/api/v1/instance")

    assert await get_json(app_client, "/api/v1/instance/") == instance  # Mastodon.py's probe
    assert instance["uri"] == "local.test"
    assert instance["version"] == "4.3.0 (compatible; fedserver 0.1.0)"
    assert instance["stats"] == {"user_count": 1, "status_count": 1, "domain_count": 2}
    assert instance["configuration"]["statuses"]["max_characters"] == 500
    assert (instance["registrations"], instance["approval_required"]) == (False, False)
    assert instance["urls"]["streaming_api"] == "ws://local.test"
    assert instance["contact_account"] is None
    assert_valid(instance, "V1Instance")


async def test_the_version_reads_as_mastodon_4(app_client: Client) -> None:
    """CLIENTS.md: Mastodon.py takes the first x.y.z; a `+` would make it read ours."""
    for path in ("/api/v1/instance", "/api/v2/instance"):
        version = (await get_json(app_client, path))["version"]
        assert re.match(r"^4\.\d+\.\d+ ", version), version
        assert "+" not in version


async def test_instance_v2(app_client: Client) -> None:
    instance = await get_json(app_client, "/api/v2/instance/")

    assert await get_json(app_client, "/api/v2/instance") == instance
    assert instance["domain"] == "local.test"
    assert instance["api_versions"] == {"mastodon": 2}
    assert instance["configuration"]["translation"] == {"enabled": False}
    accounts = instance["configuration"]["accounts"]
    assert (accounts["max_display_name_length"], accounts["max_note_length"]) == (30, 500)
    assert accounts["max_profile_fields"] == 4
    assert instance["registrations"]["enabled"] is False
    assert instance["contact"] == {"email": "", "account": None}
    assert_valid(instance, "Instance")


async def test_instance_reflects_configuration(
    make_config: MakeConfig, start_app: StartApp
) -> None:
    config = make_config(
        "configured",
        instance={
            "name": "Our Place",
            "description": "A small place.",
            "contact_email": "admins@configured.test",
            "languages": ["de", "en"],
        },
        registrations={"mode": "approval", "rules": ["Be kind.", "No spam."]},
        limits={"max_status_chars": 1000},
    )
    client = await start_app(config)

    v1 = await get_json(client, "/api/v1/instance")
    v2 = await get_json(client, "/api/v2/instance")

    assert (v1["title"], v1["email"], v1["languages"]) == (
        "Our Place",
        "admins@configured.test",
        ["de", "en"],
    )
    assert (v1["registrations"], v1["approval_required"]) == (True, True)
    assert v2["registrations"]["approval_required"] is True
    assert v2["configuration"]["statuses"]["max_characters"] == 1000
    rules = [
        {"id": "1", "text": "Be kind.", "hint": ""},
        {"id": "2", "text": "No spam.", "hint": ""},
    ]
    assert v1["rules"] == v2["rules"] == rules
    assert await get_json(client, "/api/v1/instance/rules") == rules
    assert_valid(rules, "Rule")
    assert_valid(v2, "Instance")
    assert_valid(v1, "V1Instance")


async def test_the_first_admin_is_the_contact_account(
    app_client: Client, make_user: CreateUser
) -> None:
    await make_user("alice")
    await make_user("root", is_admin=True)

    v1 = await get_json(app_client, "/api/v1/instance")
    v2 = await get_json(app_client, "/api/v2/instance")

    assert v1["contact_account"]["acct"] == "root"
    assert v2["contact"]["account"] == v1["contact_account"]
    assert_valid(v2, "Instance")


async def test_peers_are_the_domains_we_know_less_blocked_ones(
    make_config: MakeConfig, start_app: StartApp
) -> None:
    client = await start_app(make_config(federation={"blocked_domains": ["bad.test"]}))
    rows = Rows(client.app)
    for name, domain in (
        ("a", "one.test"),
        ("b", "one.test"),
        ("c", "two.test"),
        ("d", "bad.test"),
    ):
        await rows.remote_account(name, domain)

    assert await get_json(client, "/api/v1/instance/peers") == ["one.test", "two.test"]
    assert (await get_json(client, "/api/v1/instance"))["stats"]["domain_count"] == 2


async def test_no_local_custom_emoji(app_client: Client) -> None:
    assert await get_json(app_client, "/api/v1/custom_emojis") == []


async def test_preferences(
    app_client: Client, make_user: CreateUser, make_token: MakeToken
) -> None:
    alice = await make_user("alice")
    token = await make_token(alice, "read")

    before = await get_json(app_client, "/api/v1/preferences", token)
    await app_client.patch(
        "/api/v1/accounts/update_credentials",
        data={"source[privacy]": "unlisted", "source[sensitive]": "1", "source[language]": "fr"},
        headers=auth(await make_token(alice, "write")),
    )
    after = await get_json(app_client, "/api/v1/preferences/", token)

    assert before == {
        "posting:default:visibility": "public",
        "posting:default:sensitive": False,
        "posting:default:language": None,
        "reading:expand:media": "default",
        "reading:expand:spoilers": False,
    }
    assert (after["posting:default:visibility"], after["posting:default:language"]) == (
        "unlisted",
        "fr",
    )
    assert after["posting:default:sensitive"] is True
    assert (await app_client.get("/api/v1/preferences")).status == 401
    write_only = auth(await make_token(alice, "write"))
    assert (await app_client.get("/api/v1/preferences", headers=write_only)).status == 403
    assert_valid([before, after], "Preferences")


async def test_markers(
    app_client: Client, make_user: CreateUser, make_token: MakeToken, clock: FrozenClock
) -> None:
    alice = await make_user("alice")
    token = await make_token(alice)

    assert await get_json(app_client, "/api/v1/markers?timeline[]=home", token) == {}
    response = await app_client.post(
        "/api/v1/markers", data={"home[last_read_id]": "1234"}, headers=auth(token)
    )
    assert response.status == 200, await response.text()
    home = (await response.json())["home"]
    assert (home["last_read_id"], home["version"]) == ("1234", 1)
    clock.advance(seconds=5)
    response = await app_client.post(
        "/api/v1/markers/",
        json={"home": {"last_read_id": "1240"}, "notifications": {"last_read_id": "77"}},
        headers=auth(token),
    )
    both = await response.json()
    assert (both["home"]["version"], both["notifications"]["version"]) == (2, 1)
    assert both["home"]["updated_at"] == "2026-11-21T12:00:05.000Z"

    only_home = await get_json(app_client, "/api/v1/markers?timeline[]=home", token)
    assert list(only_home) == ["home"]
    assert only_home["home"]["last_read_id"] == "1240"
    listed = await get_json(
        app_client, "/api/v1/markers?timeline[]=home&timeline[]=notifications", token
    )
    assert set(listed) == {"home", "notifications"}
    assert_valid(list(listed.values()), "Marker")
    assert_valid(home, "Marker")


async def test_marker_errors_and_scopes(
    app_client: Client, make_user: CreateUser, make_token: MakeToken
) -> None:
    alice = await make_user("alice")
    read = auth(await make_token(alice, "read"))
    write = auth(await make_token(alice, "write"))

    assert (await app_client.get("/api/v1/markers")).status == 401
    assert (await app_client.get("/api/v1/markers", headers=write)).status == 403
    response = await app_client.post(
        "/api/v1/markers", data={"home[last_read_id]": "1"}, headers=read
    )
    assert response.status == 403
    response = await app_client.post(
        "/api/v1/markers", data={"home[last_read_id]": "x"}, headers=write
    )
    assert response.status == 422
    assert (await app_client.post("/api/v1/markers", headers=write)).status == 422


async def test_source_url_comes_from_the_config(
    make_config: MakeConfig, start_app: StartApp
) -> None:
    """AGPL §13: operators say where their source is; without it, the base URL is shown."""
    default = await start_app(make_config("plain"))
    assert (await (await default.get("/api/v2/instance")).json())[
        "source_url"
    ] == "http://plain.test/"
    configured = await start_app(
        make_config("src", instance={"source_url": "https://code.example/fedserver"})
    )
    body = await (await configured.get("/api/v2/instance")).json()
    assert body["source_url"] == "https://code.example/fedserver"
