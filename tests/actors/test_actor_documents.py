"""Actor documents, content negotiation, tombstones, the instance actor and the collections
(followers, following, featured, outbox), through the real app."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from fedserver.appkeys import store_key
from fedserver.db import LocalUser
from tests.conftest import Client, CreateUser, MakeConfig, Rows, StartApp

AP = "application/activity+json"
LD = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
BROWSER = "text/html,application/xhtml+xml,*/*;q=0.8"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
ALICE = "http://local.test/users/alice"
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58decode(text: str) -> bytes:
    """An independent base58btc decoder, so the test does not trust the one under test."""
    number = 0
    for char in text:
        number = number * 58 + BASE58.index(char)
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


async def get_json(client: Client, path: str, status: int = 200) -> Any:
    response = await client.get(path, headers={"Accept": AP})
    assert response.status == status, await response.text()
    assert response.content_type == AP
    return await response.json(content_type=AP)


@pytest.fixture
async def alice(make_user: CreateUser) -> LocalUser:
    return await make_user("alice")


async def test_person_document_field_by_field(app_client: Client, alice: LocalUser) -> None:
    actor = await get_json(app_client, "/users/alice")

    context = actor["@context"]
    assert context[0] == "https://www.w3.org/ns/activitystreams"
    assert "https://w3id.org/security/v1" in context
    assert "https://w3id.org/security/multikey/v1" in context
    assert actor["id"] == ALICE
    assert actor["type"] == "Person"
    assert actor["preferredUsername"] == "alice"
    assert actor["inbox"] == f"{ALICE}/inbox"
    assert actor["outbox"] == f"{ALICE}/outbox"
    assert actor["followers"] == f"{ALICE}/followers"
    assert actor["following"] == f"{ALICE}/following"
    assert actor["featured"] == f"{ALICE}/collections/featured"
    assert actor["endpoints"] == {"sharedInbox": "http://local.test/inbox"}
    assert actor["url"] == "http://local.test/@alice"
    assert actor["published"] == "2026-11-21T12:00:00.000000Z"
    assert actor["manuallyApprovesFollowers"] is False
    assert actor["discoverable"] is True
    assert actor["indexable"] is False
    assert actor["alsoKnownAs"] == []
    assert actor["attachment"] == []
    for absent in ("movedTo", "icon", "image"):
        assert absent not in actor


async def test_published_rsa_key_is_the_stored_one(app_client: Client, alice: LocalUser) -> None:
    """Sign with the private key from the database, verify with the published key."""
    public_key = (await get_json(app_client, "/users/alice"))["publicKey"]
    assert public_key["id"] == f"{ALICE}#main-key"
    assert public_key["owner"] == ALICE
    published = load_pem_public_key(public_key["publicKeyPem"].encode())
    assert isinstance(published, rsa.RSAPublicKey)
    assert published.key_size == 2048

    stored = await app_client.app[store_key].accounts.keypairs(alice.account.id)
    private = load_pem_private_key(stored["rsa"].private_key_pem.encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    message = b"(request-target): post /inbox"
    signature = private.sign(message, padding.PKCS1v15(), hashes.SHA256())
    published.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


async def test_assertion_method_is_the_stored_ed25519_key(
    app_client: Client, alice: LocalUser
) -> None:
    [method] = (await get_json(app_client, "/users/alice"))["assertionMethod"]
    assert method["type"] == "Multikey"
    assert method["id"] == f"{ALICE}#ed25519-key"
    assert method["controller"] == ALICE
    multibase = method["publicKeyMultibase"]
    assert multibase.startswith("z6Mk")
    decoded = b58decode(multibase[1:])
    assert decoded[:2] == b"\xed\x01"  # the multicodec prefix of an Ed25519 public key
    assert len(decoded) == 34
    published = ed25519.Ed25519PublicKey.from_public_bytes(decoded[2:])

    stored = await app_client.app[store_key].accounts.keypairs(alice.account.id)
    private = load_pem_private_key(stored["ed25519"].private_key_pem.encode(), password=None)
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    assert published.public_bytes(
        Encoding.Raw, PublicFormat.Raw
    ) == private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    published.verify(private.sign(b"proof"), b"proof")


@pytest.mark.parametrize("accept", [AP, LD, "application/json", f"{AP}, text/html;q=0.9"])
async def test_activitypub_accept_headers_get_activity_json(
    app_client: Client, alice: LocalUser, accept: str
) -> None:
    response = await app_client.get("/users/alice", headers={"Accept": accept})
    assert response.status == 200
    assert response.content_type == AP
    assert response.headers["Vary"] == "Accept"
    assert (await response.json(content_type=AP))["id"] == ALICE


async def test_no_response_contains_private_key_material(
    app_client: Client, alice: LocalUser
) -> None:
    requests = [
        ("/users/alice", AP),
        ("/users/alice", BROWSER),
        ("/@alice", BROWSER),
        ("/actor", AP),
        ("/.well-known/webfinger?resource=acct:alice@local.test", AP),
        ("/users/alice/followers", AP),
        ("/users/alice/following", AP),
        ("/users/alice/outbox?page=true", AP),
    ]
    store = app_client.app[store_key]
    stored = [
        *(await store.accounts.keypairs(alice.account.id)).values(),
        *(await store.accounts.keypairs(None)).values(),
    ]
    # A line from the middle of each private PEM: the key itself, not its armour.
    secrets = [key.private_key_pem.splitlines()[1].encode() for key in stored]
    assert len(secrets) == 4
    for path, accept in requests:
        response = await app_client.get(path, headers={"Accept": accept})
        assert response.status == 200, path
        body = await response.read()
        assert b"PRIVATE" not in body, path
        for secret in secrets:
            assert secret not in body, path


async def test_moved_to_icon_and_image_appear_when_set(
    app_client: Client, alice: LocalUser, rows: Rows
) -> None:
    await rows.update_account(
        alice.account.id,
        moved_to_uri="https://elsewhere.test/users/alice",
        avatar_url="https://media.test/a.png",
        header_url="https://media.test/h.png",
        also_known_as=["https://elsewhere.test/users/alice"],
        fields=[{"name": "Site", "value": "https://alice.test"}],
    )

    actor = await get_json(app_client, "/users/alice")

    assert actor["movedTo"] == "https://elsewhere.test/users/alice"
    assert actor["icon"] == {"type": "Image", "url": "https://media.test/a.png"}
    assert actor["image"] == {"type": "Image", "url": "https://media.test/h.png"}
    assert actor["alsoKnownAs"] == ["https://elsewhere.test/users/alice"]
    assert actor["attachment"] == [
        {"type": "PropertyValue", "name": "Site", "value": "https://alice.test"}
    ]


async def test_bot_account_is_a_service(app_client: Client, alice: LocalUser, rows: Rows) -> None:
    await rows.update_account(alice.account.id, bot=1)
    assert (await get_json(app_client, "/users/alice"))["type"] == "Service"


async def test_browser_gets_the_profile_page(app_client: Client, alice: LocalUser) -> None:
    response = await app_client.get("/users/alice", headers={"Accept": BROWSER})
    assert response.status == 200
    assert response.content_type == "text/html"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Vary"] == "Accept"
    assert "@alice@local.test" in await response.text()


async def test_profile_url_redirects_activitypub_clients_to_the_actor(
    app_client: Client, alice: LocalUser
) -> None:
    response = await app_client.get("/@alice", headers={"Accept": AP}, allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == ALICE


async def test_unknown_user_is_a_json_404(app_client: Client) -> None:
    for accept in (AP, BROWSER):
        response = await app_client.get("/users/nobody", headers={"Accept": accept})
        assert response.status == 404
        assert response.content_type == "application/json"
        assert (await response.json())["code"] == "not_found"


async def test_deleted_user_is_a_tombstone(app_client: Client, alice: LocalUser) -> None:
    store = app_client.app[store_key]
    await store.accounts.mark_deleted(alice.account.id, alice.account.created_at)

    tombstone = await get_json(app_client, "/users/alice", status=410)
    assert tombstone["type"] == "Tombstone"
    assert tombstone["id"] == ALICE
    assert tombstone["deleted"] == "2026-11-21T12:00:00.000000Z"
    assert "publicKey" not in tombstone

    for path in ("/users/alice", "/@alice"):
        page = await app_client.get(path, headers={"Accept": BROWSER})
        assert page.status == 410
        assert page.content_type == "text/html"
        assert "was deleted" in await page.text()

    for collection in ("followers", "following", "outbox", "collections/featured"):
        gone = await get_json(app_client, f"/users/alice/{collection}", status=410)
        assert gone == {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{ALICE}/{collection}",
            "type": "Tombstone",
        }


async def test_instance_actor_is_an_application_with_keys(app_client: Client) -> None:
    actor = await get_json(app_client, "/actor")

    assert actor["id"] == "http://local.test/actor"
    assert actor["type"] == "Application"
    assert actor["preferredUsername"] == "local.test"
    assert actor["inbox"] == "http://local.test/actor/inbox"
    assert actor["publicKey"]["id"] == "http://local.test/actor#main-key"
    assert actor["publicKey"]["owner"] == "http://local.test/actor"
    [method] = actor["assertionMethod"]
    assert method["type"] == "Multikey"
    assert method["publicKeyMultibase"].startswith("z6Mk")

    stored = await app_client.app[store_key].accounts.keypairs(None)
    assert actor["publicKey"]["publicKeyPem"] == stored["rsa"].public_key_pem
    published = load_pem_public_key(actor["publicKey"]["publicKeyPem"].encode())
    assert isinstance(published, rsa.RSAPublicKey)
    assert published.key_size == 2048


async def test_instance_actor_keys_survive_a_restart(
    make_config: MakeConfig, start_app: StartApp
) -> None:
    config = make_config("restart")
    first = await start_app(config)
    key = (await get_json(first, "/actor"))["publicKey"]["publicKeyPem"]
    await first.close()

    second = await start_app(config)
    assert (await get_json(second, "/actor"))["publicKey"]["publicKeyPem"] == key


# -- followers and following ---------------------------------------------------------------


async def add_followers(rows: Rows, alice: LocalUser, count: int) -> list[str]:
    """`count` remote accounts that follow alice; returns their URIs, newest follow first."""
    uris = []
    for number in range(count):
        account_id = await rows.remote_account(f"fan{number}")
        await rows.follow(account_id, alice.account.id)
        uris.append(f"https://remote.test/users/fan{number}")
    return uris[::-1]


async def test_followers_collection_counts_accepted_follows(
    app_client: Client, alice: LocalUser, rows: Rows
) -> None:
    await add_followers(rows, alice, 3)
    await rows.follow(await rows.remote_account("hopeful"), alice.account.id, state="pending")

    collection = await get_json(app_client, "/users/alice/followers")

    assert collection == {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{ALICE}/followers",
        "type": "OrderedCollection",
        "totalItems": 3,
        "first": f"{ALICE}/followers?page=true",
    }


async def test_followers_pages_are_cursor_linked(
    app_client: Client, alice: LocalUser, rows: Rows
) -> None:
    expected = await add_followers(rows, alice, 25)
    await rows.follow(await rows.remote_account("hopeful"), alice.account.id, state="pending")

    first = await get_json(app_client, "/users/alice/followers?page=true")
    assert first["type"] == "OrderedCollectionPage"
    assert first["partOf"] == f"{ALICE}/followers"
    assert first["id"] == f"{ALICE}/followers?page=true"
    assert first["totalItems"] == 25
    assert len(first["orderedItems"]) == 20
    assert first["next"].startswith(f"{ALICE}/followers?page=true&max_id=")

    second = await get_json(app_client, first["next"].removeprefix("http://local.test"))
    assert second["id"] == first["next"]
    assert len(second["orderedItems"]) == 5
    assert "next" not in second

    assert first["orderedItems"] + second["orderedItems"] == expected
    assert "https://remote.test/users/hopeful" not in expected


async def test_following_collection_lists_accepted_follows_of_the_user(
    app_client: Client, alice: LocalUser, rows: Rows, make_user: CreateUser
) -> None:
    bob = await make_user("bob")
    await rows.follow(alice.account.id, bob.account.id)
    await rows.follow(alice.account.id, await rows.remote_account("dave"))
    await rows.follow(alice.account.id, await rows.remote_account("erin"), state="pending")
    # Someone following alice is not someone alice follows.
    await rows.follow(await rows.remote_account("fan"), alice.account.id)

    collection = await get_json(app_client, "/users/alice/following")
    assert collection["totalItems"] == 2
    assert collection["first"] == f"{ALICE}/following?page=true"

    page = await get_json(app_client, "/users/alice/following?page=true")
    assert page["orderedItems"] == [
        "https://remote.test/users/dave",
        "http://local.test/users/bob",
    ]
    assert "next" not in page


@pytest.mark.parametrize("collection", ["followers", "following", "outbox"])
@pytest.mark.parametrize("max_id", ["abc", "-1", "1.5", "9" * 20])
async def test_non_numeric_cursor_is_a_400(
    app_client: Client, alice: LocalUser, collection: str, max_id: str
) -> None:
    response = await app_client.get(
        f"/users/alice/{collection}?page=true&max_id={max_id}", headers={"Accept": AP}
    )
    assert response.status == 400
    assert (await response.json())["code"] == "bad_request"


async def test_collections_of_unknown_users_are_404(app_client: Client) -> None:
    for collection in ("followers", "following", "outbox", "collections/featured"):
        response = await app_client.get(f"/users/nobody/{collection}", headers={"Accept": AP})
        assert response.status == 404, collection


async def test_featured_collection_is_empty_without_pins(
    app_client: Client, alice: LocalUser
) -> None:
    featured = await get_json(app_client, "/users/alice/collections/featured")
    assert featured == {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{ALICE}/collections/featured",
        "type": "OrderedCollection",
        "totalItems": 0,
        "orderedItems": [],
    }


async def test_featured_collection_lists_pinned_public_notes(
    app_client: Client, alice: LocalUser
) -> None:
    from fedserver.appkeys import outbox_key

    outbox = app_client.app[outbox_key]
    pinned = await outbox.post(alice.account, "pin me")
    private = await outbox.post(alice.account, "not shown", visibility="private")
    await outbox.post(alice.account, "not pinned")
    await outbox.pin(alice.account, pinned, pinned=True)
    store = app_client.app[store_key]
    async with store.db.transaction() as tx:  # a private status cannot be pinned via API
        await store.pins.add(tx, alice.account.id, private.id, pinned.created_at)
    featured = await get_json(app_client, "/users/alice/collections/featured")
    assert featured["totalItems"] == 1
    assert [note["id"] for note in featured["orderedItems"]] == [f"{ALICE}/statuses/{pinned.id}"]
    assert featured["orderedItems"][0]["type"] == "Note"


# -- outbox ----------------------------------------------------------------------------------


async def test_outbox_wraps_public_statuses_in_creates(
    app_client: Client, alice: LocalUser, rows: Rows
) -> None:
    status_id = await rows.status(alice.account.id, "<p>hello world</p>")
    await rows.status(alice.account.id, "<p>for followers</p>", visibility="private")
    await rows.status(alice.account.id, "<p>secret</p>", visibility="direct")

    collection = await get_json(app_client, "/users/alice/outbox")
    assert collection["type"] == "OrderedCollection"
    assert collection["id"] == f"{ALICE}/outbox"
    assert collection["first"] == f"{ALICE}/outbox?page=true"
    # Like Mastodon's statuses_count, the total counts every post, shown or not.
    assert collection["totalItems"] == 3

    page = await get_json(app_client, "/users/alice/outbox?page=true")
    [create] = page["orderedItems"]
    note_id = f"{ALICE}/statuses/{status_id}"
    assert create["type"] == "Create"
    assert create["id"] == f"{note_id}/activity"
    assert create["actor"] == ALICE
    assert create["to"] == [PUBLIC]
    assert create["cc"] == [f"{ALICE}/followers"]
    note = create["object"]
    assert note["type"] == "Note"
    assert note["id"] == note_id
    assert note["attributedTo"] == ALICE
    assert note["content"] == "<p>hello world</p>"
    assert note["to"] == [PUBLIC]
    assert note["cc"] == [f"{ALICE}/followers"]
    assert note["url"] == f"http://local.test/@alice/{status_id}"
    assert note["published"] == create["published"] == "2026-11-21T12:00:00.000000Z"
    body = await (
        await app_client.get("/users/alice/outbox?page=true", headers={"Accept": AP})
    ).text()
    assert "for followers" not in body
    assert "secret" not in body


async def test_outbox_addresses_unlisted_statuses_to_followers(
    app_client: Client, alice: LocalUser, rows: Rows
) -> None:
    await rows.status(alice.account.id, "<p>quiet</p>", visibility="unlisted")
    [create] = (await get_json(app_client, "/users/alice/outbox?page=true"))["orderedItems"]
    assert create["to"] == [f"{ALICE}/followers"]
    assert create["cc"] == [PUBLIC]


async def test_outbox_pages_newest_first(app_client: Client, alice: LocalUser, rows: Rows) -> None:
    ids = [await rows.status(alice.account.id, f"<p>post {n}</p>") for n in range(25)]
    expected = [f"{ALICE}/statuses/{status_id}" for status_id in reversed(ids)]

    first = await get_json(app_client, "/users/alice/outbox?page=true")
    assert first["totalItems"] == 25
    assert len(first["orderedItems"]) == 20
    second = await get_json(app_client, first["next"].removeprefix("http://local.test"))
    assert "next" not in second

    notes = [create["object"]["id"] for create in first["orderedItems"] + second["orderedItems"]]
    assert notes == expected


async def test_other_users_statuses_stay_out_of_the_outbox(
    app_client: Client, alice: LocalUser, make_user: CreateUser, rows: Rows
) -> None:
    bob = await make_user("bob")
    await rows.status(bob.account.id, "<p>bob's</p>")
    assert (await get_json(app_client, "/users/alice/outbox"))["totalItems"] == 0
    assert (await get_json(app_client, "/users/alice/outbox?page=true"))["orderedItems"] == []
