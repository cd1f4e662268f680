"""WebFinger, host-meta, NodeInfo and robots.txt through the real app."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from fedserver.appkeys import store_key
from fedserver.config import Config
from tests.conftest import Client, CreateUser, FrozenClock, MakeConfig, Rows, StartApp

JRD = "application/jrd+json"
ACTIVITY_JSON = "application/activity+json"
XRD_NS = "{http://docs.oasis-open.org/ns/xri/xrd-1.0}"


async def webfinger(client: Client, resource: str | None) -> tuple[int, Any]:
    params = {} if resource is None else {"resource": resource}
    response = await client.get("/.well-known/webfinger", params=params)
    return response.status, await response.json(content_type=None)


def link(document: dict[str, Any], rel: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [entry for entry in document["links"] if entry["rel"] == rel]
    assert len(found) == 1, found
    return found[0]


async def test_acct_resource_gets_the_users_jrd(app_client: Client, make_user: CreateUser) -> None:
    await make_user("alice")

    response = await app_client.get(
        "/.well-known/webfinger", params={"resource": "acct:alice@local.test"}
    )

    assert response.status == 200
    assert response.content_type == JRD
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    document = await response.json(content_type=JRD)
    assert document["subject"] == "acct:alice@local.test"
    assert set(document["aliases"]) == {"http://local.test/@alice", "http://local.test/users/alice"}
    assert link(document, "self") == {
        "rel": "self",
        "type": ACTIVITY_JSON,
        "href": "http://local.test/users/alice",
    }
    profile = link(document, "http://webfinger.net/rel/profile-page")
    assert profile["href"] == "http://local.test/@alice"
    assert profile["type"] == "text/html"
    subscribe = link(document, "http://ostatus.org/schema/1.0/subscribe")
    assert "{uri}" in subscribe["template"]
    assert subscribe["template"].startswith("http://local.test/")


@pytest.mark.parametrize(
    "resource",
    [
        "http://local.test/users/alice",
        "http://local.test/@alice",
        "alice@local.test",
        "acct:ALICE@local.test",
        "acct:Alice@LOCAL.TEST",
        "acct:@alice@local.test",
    ],
)
async def test_other_spellings_of_the_user_find_the_same_jrd(
    app_client: Client, make_user: CreateUser, resource: str
) -> None:
    await make_user("alice")
    status, document = await webfinger(app_client, resource)
    assert status == 200
    assert document["subject"] == "acct:alice@local.test"
    assert link(document, "self")["href"] == "http://local.test/users/alice"


@pytest.mark.parametrize(
    ("resource", "status", "code"),
    [
        (None, 400, "bad_request"),
        ("", 400, "bad_request"),
        ("acct:alice", 400, "bad_request"),
        ("acct:@local.test", 400, "bad_request"),
        ("acct:" + "a" * 600 + "@local.test", 400, "bad_request"),
        ("acct:alice@other.test", 404, "not_found"),
        ("https://other.test/users/alice", 404, "not_found"),
        ("http://local.test/about", 404, "not_found"),
        ("acct:nobody@local.test", 404, "not_found"),
    ],
)
async def test_bad_or_foreign_resources_get_json_errors(
    app_client: Client, make_user: CreateUser, resource: str | None, status: int, code: str
) -> None:
    await make_user("alice")
    response = await app_client.get(
        "/.well-known/webfinger", params={} if resource is None else {"resource": resource}
    )
    assert response.status == status
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["code"] == code
    assert isinstance(body["error"], str)
    assert body["error"]


async def test_deleted_user_is_gone(app_client: Client, make_user: CreateUser) -> None:
    alice = await make_user("alice")
    await app_client.app[store_key].accounts.mark_deleted(
        alice.account.id, alice.account.created_at
    )

    status, body = await webfinger(app_client, "acct:alice@local.test")

    assert status == 410
    assert body["code"] == "gone"


@pytest.mark.parametrize("resource", ["acct:local.test@local.test", "http://local.test/actor"])
async def test_instance_actor_is_found_by_its_domain_name(
    app_client: Client, resource: str
) -> None:
    status, document = await webfinger(app_client, resource)
    assert status == 200
    assert document["subject"] == "acct:local.test@local.test"
    assert link(document, "self") == {
        "rel": "self",
        "type": ACTIVITY_JSON,
        "href": "http://local.test/actor",
    }


async def test_host_meta_xml_points_at_webfinger(app_client: Client) -> None:
    response = await app_client.get("/.well-known/host-meta")

    assert response.status == 200
    assert response.content_type == "application/xrd+xml"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    root = ET.fromstring(await response.text())
    assert root.tag == f"{XRD_NS}XRD"
    [lrdd] = root.findall(f"{XRD_NS}Link")
    assert lrdd.get("rel") == "lrdd"
    assert lrdd.get("template") == "http://local.test/.well-known/webfinger?resource={uri}"


async def test_host_meta_json_points_at_webfinger(app_client: Client) -> None:
    response = await app_client.get("/.well-known/host-meta.json")
    assert response.status == 200
    assert response.content_type == JRD
    assert await response.json(content_type=JRD) == {
        "links": [
            {"rel": "lrdd", "template": "http://local.test/.well-known/webfinger?resource={uri}"}
        ]
    }


async def test_nodeinfo_index_links_versions_2_0_and_2_1(app_client: Client) -> None:
    response = await app_client.get("/.well-known/nodeinfo")
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert await response.json() == {
        "links": [
            {
                "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                "href": "http://local.test/nodeinfo/2.0",
            },
            {
                "rel": "http://nodeinfo.diaspora.software/ns/schema/2.1",
                "href": "http://local.test/nodeinfo/2.1",
            },
        ]
    }


async def nodeinfo(client: Client, version: str = "2.1") -> dict[str, Any]:
    response = await client.get(f"/nodeinfo/{version}")
    assert response.status == 200
    assert response.content_type == "application/json"
    assert f"/ns/schema/{version}#" in response.headers["Content-Type"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    document: dict[str, Any] = await response.json()
    return document


@pytest.mark.parametrize("version", ["2.0", "2.1"])
async def test_nodeinfo_describes_the_software(app_client: Client, version: str) -> None:
    document = await nodeinfo(app_client, version)
    assert document["version"] == version
    assert document["software"]["name"] == "fedserver"
    assert document["protocols"] == ["activitypub"]
    assert document["openRegistrations"] is False
    assert document["metadata"]["nodeName"] == "local"
    assert document["usage"] == {
        "users": {"total": 0, "activeMonth": 0, "activeHalfyear": 0},
        "localPosts": 0,
    }


async def test_nodeinfo_counts_are_real(
    app_client: Client, make_user: CreateUser, rows: Rows, clock: FrozenClock
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    await app_client.app[store_key].accounts.mark_deleted(bob.account.id, clock())
    await rows.status(alice.account.id)
    # Posts of remote accounts are not local posts.
    await rows.status(await rows.remote_account("carol"))

    usage = (await nodeinfo(app_client))["usage"]
    assert usage == {
        "users": {"total": 1, "activeMonth": 1, "activeHalfyear": 1},
        "localPosts": 1,
    }

    clock.advance(days=40)
    usage = (await nodeinfo(app_client, "2.0"))["usage"]
    assert usage["users"] == {"total": 1, "activeMonth": 0, "activeHalfyear": 1}

    clock.advance(days=150)
    usage = (await nodeinfo(app_client))["usage"]
    assert usage["users"] == {"total": 1, "activeMonth": 0, "activeHalfyear": 0}


@pytest.mark.parametrize(
    ("mode", "is_open"), [("open", True), ("approval", True), ("closed", False)]
)
async def test_nodeinfo_open_registrations_follows_the_mode(
    make_config: MakeConfig, start_app: StartApp, mode: str, is_open: bool
) -> None:
    config: Config = make_config(registrations={"mode": mode})
    client = await start_app(config)
    assert (await nodeinfo(client))["openRegistrations"] is is_open


@pytest.mark.parametrize("version", ["3.0", "1.0", "2.2"])
async def test_unknown_nodeinfo_version_is_404(app_client: Client, version: str) -> None:
    response = await app_client.get(f"/nodeinfo/{version}")
    assert response.status == 404
    assert (await response.json())["code"] == "not_found"


async def test_robots_txt_keeps_crawlers_out_of_the_api(app_client: Client) -> None:
    response = await app_client.get("/robots.txt")
    assert response.status == 200
    assert response.content_type == "text/plain"
    lines = (await response.text()).splitlines()
    assert lines[0] == "User-agent: *"
    assert "Disallow: /api/" in lines
    assert "Disallow: /@" not in lines
