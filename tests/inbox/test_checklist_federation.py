"""SECURITY.md §6 items 9-15 and 21-25: what processing a *verified* activity must refuse.

The signature is always valid here (the peers of tests/fakes/remote.py sign correctly);
what is hostile is the content: someone else's object, someone else's Follow, a post
that may not be boosted, an absurd array, markup, a replay, a Delete racing its
Create. Every test delivers through the real inbox, runs the real workers
(tests/fakes/exchange.py) and asserts both the answer and what was (not) stored and
(not) fetched. Items 1-8, 16-20 are in test_inbox_security.py, test_key_resolution.py
and tests/fedserver/.
"""

from __future__ import annotations

import json
import time
from html.parser import HTMLParser
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from fedserver.appkeys import domain_policy_key, ids_key, outbox_key, remote_actors_key
from fedserver.db import AccountRow, StatusRow, Window
from fedserver.textlimits import (
    MAX_ATTACHMENTS,
    MAX_MENTIONS,
    MAX_POLL_OPTIONS,
    MAX_TAGS,
)
from tests.conftest import Client, CreateUser, FrozenClock, MakeConfig, StartApp, StartPeer
from tests.fakes.delivery import add_user
from tests.fakes.exchange import LOCAL, Exchange
from tests.fakes.remote import AS_PUBLIC, MASTODON, FakePeer
from tests.fakes.resolver import FakeResolver
from tests.fakes.scripted import ScriptedPeer, start_scripted_peer

pytestmark = pytest.mark.usefixtures("fast_accounts")

ALICE = f"{LOCAL}/users/alice"
PEER = "http://peer.test"
BOB = f"{PEER}/users/bob"
CAROL = f"{PEER}/users/carol"


@pytest.fixture
async def peer(
    app_client: Client,
    make_user: CreateUser,
    aiohttp_server: AiohttpServer,
    resolver: FakeResolver,
    clock: FrozenClock,
) -> ScriptedPeer:
    """alice here; bob and carol on a Mastodon-style peer that can serve scripted
    documents (a note at its id, or nothing: a FakePeer answers 404 for notes)."""
    await make_user("alice")
    return await start_scripted_peer(
        aiohttp_server, resolver, clock, "peer.test", MASTODON, "bob", "carol"
    )


@pytest.fixture
async def other(
    peer: ScriptedPeer, aiohttp_server: AiohttpServer, resolver: FakeResolver, clock: FrozenClock
) -> ScriptedPeer:
    """mallory on another host."""
    return await start_scripted_peer(
        aiohttp_server, resolver, clock, "other.test", MASTODON, "mallory"
    )


@pytest.fixture
def local(app_client: Client) -> Exchange:
    return Exchange(app_client)


def note(author: str, serial: str, **fields: Any) -> dict[str, Any]:
    """A public Note by the actor URI `author`, with an id under it."""
    return {
        "id": f"{author}/statuses/{serial}",
        "type": "Note",
        "attributedTo": author,
        "content": f"<p>note {serial} by {author}</p>",
        "published": "2026-11-21T11:00:00Z",
        "to": [AS_PUBLIC],
        "cc": [f"{author}/followers"],
        **fields,
    }


def create(peer: FakePeer, name: str, obj: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return peer.activity(name, "Create", obj, to=obj.get("to"), cc=obj.get("cc"), **extra)


async def alices_post(
    local: Exchange, text: str = "hello", **options: Any
) -> tuple[StatusRow, str]:
    status = await local.client.app[outbox_key].post(await local.local("alice"), text, **options)
    await local.process()
    return status, f"{ALICE}/statuses/{status.id}"


async def kinds(local: Exchange, username: str = "alice") -> list[str]:
    account = await local.local(username)
    return sorted(
        n.type
        for n in await local.store.timelines.notifications(
            account.id, Window(limit=80), types=[], exclude_types=[], from_account_id=None
        )
    )


async def count(local: Exchange, table: str) -> int:
    return int(await local.store.db.fetch_value(f"SELECT count(*) FROM {table}"))


async def snapshot(local: Exchange) -> dict[str, int]:
    """Row counts of everything processing may create."""
    tables = ("statuses", "favourites", "follows", "blocks", "notifications", "tombstones")
    return {table: await count(local, table) for table in tables}


async def bob_follows_alice(local: Exchange, peer: FakePeer) -> dict[str, Any]:
    follow = peer.activity("bob", "Follow", ALICE)
    await local.deliver(peer, follow)
    return follow


# -- 9. blocked actors and domains ------------------------------------------------------


async def test_9_activities_queued_before_a_domain_block_are_dropped_without_fetching(
    local: Exchange, peer: ScriptedPeer, clock: FrozenClock
) -> None:
    """Received (and acknowledged) before the admin blocked the domain: processing
    after the block stores nothing and fetches nothing from it."""
    _, my_uri = await alices_post(local)
    await local.store.domain_blocks.add("peer.test", "spam", clock())
    local.client.app[domain_policy_key].set_stored_blocks(["peer.test"])
    before = await snapshot(local)
    for activity in (
        create(peer, "bob", note(BOB, "1", inReplyTo=my_uri)),
        peer.activity("carol", "Like", my_uri),
        peer.activity("carol", "Follow", ALICE),
    ):
        await local.store.inbox.enqueue(
            item_id=local.client.app[ids_key](),
            activity_id=activity["id"],
            activity_type=activity["type"],
            actor_uri=activity["actor"],
            key_id=activity["actor"] + "#main-key",
            recipient_account_id=None,
            body=json.dumps(activity),
            now=clock(),
        )

    await local.process()

    assert await snapshot(local) == before
    assert not peer.gets
    assert await local.inbox_log() == [("Create", "ignored", "the actor's domain is blocked")] + [
        (kind, "ignored", "the actor's domain is blocked") for kind in ("Like", "Follow")
    ]
    assert peer.received == []


BLOCKED_NOTE = "http://blocked.test/users/eve/statuses/1"


def reaching_into_the_blocked_domain(peer: FakePeer) -> dict[str, dict[str, Any]]:
    """Activities from an allowed peer that name an object on a blocked domain."""
    return {
        "Announce of it": peer.activity("bob", "Announce", BLOCKED_NOTE, to=[AS_PUBLIC]),
        "Create of it (forwarded)": peer.activity(
            "bob", "Create", note("http://blocked.test/users/eve", "1"), to=[AS_PUBLIC]
        ),
        "Create of a reply to it": create(peer, "bob", note(BOB, "9", inReplyTo=BLOCKED_NOTE)),
        "Like of it": peer.activity("bob", "Like", BLOCKED_NOTE),
    }


@pytest.mark.parametrize(
    "case",
    ["Announce of it", "Create of it (forwarded)", "Create of a reply to it", "Like of it"],
)
async def test_9_an_object_on_a_blocked_domain_is_never_fetched(
    make_config: MakeConfig,
    start_app: StartApp,
    start_peer: StartPeer,
    resolver: FakeResolver,
    case: str,
) -> None:
    client = await start_app(make_config(federation={"blocked_domains": ["blocked.test"]}))
    await add_user(client)
    blocked = await start_peer("blocked.test", MASTODON, "eve")
    allowed = await start_peer("peer.test", MASTODON, "bob")
    local = Exchange(client)

    await local.deliver(allowed, reaching_into_the_blocked_domain(allowed)[case])

    assert not blocked.gets
    assert "blocked.test" not in resolver.lookups
    assert await local.status(BLOCKED_NOTE) is None
    assert await local.store.remote_accounts.by_uri("http://blocked.test/users/eve") is None


async def block_bob(local: Exchange, peer: FakePeer) -> AccountRow:
    """bob followed alice (so his key is known); alice blocks him."""
    await bob_follows_alice(local, peer)
    bob = await local.remote(BOB)
    await local.client.app[outbox_key].block(await local.local("alice"), bob)
    await local.process()
    peer.gets.clear()
    return bob


@pytest.mark.parametrize("path", ["/users/alice/inbox", "/inbox"])
async def test_9_a_blocked_actor_changes_nothing_and_causes_no_fetch(
    local: Exchange, peer: ScriptedPeer, path: str
) -> None:
    _, my_uri = await alices_post(local)
    bob = await block_bob(local, peer)
    before = await snapshot(local)
    mention = [{"type": "Mention", "href": ALICE, "name": "@alice@local.test"}]
    activities = [
        create(peer, "bob", note(BOB, "1", inReplyTo=my_uri, tag=mention)),
        create(peer, "bob", note(BOB, "2", to=[ALICE], cc=[], tag=mention)),  # direct
        peer.activity("bob", "Like", my_uri),
        peer.activity("bob", "Announce", my_uri, to=[AS_PUBLIC]),
        peer.activity("bob", "Follow", ALICE),
    ]

    for activity in activities:
        assert await local.send(peer, activity, path=path) in (202, 403)
    await local.process()

    assert await snapshot(local) == before, await local.inbox_log()
    assert await local.store.follows.get(bob.id, (await local.local("alice")).id) is None
    assert not peer.gets


# -- 10. embedded objects from someone else ---------------------------------------------


async def test_10_create_of_an_object_on_another_host_is_refetched_from_its_origin(
    local: Exchange, peer: ScriptedPeer, other: ScriptedPeer
) -> None:
    forged = note(f"{other.base_url}/users/mallory", "1", content="<p>forged words</p>")
    other.script(forged["id"], not_found)

    await local.deliver(peer, create(peer, "bob", forged))

    assert other.gets[urlpath(forged["id"])] == 1  # asked the origin, which has nothing
    assert await local.status(forged["id"]) is None
    assert await count(local, "statuses") == 0


async def test_10_the_origins_copy_is_stored_not_the_embedded_one(
    local: Exchange, peer: ScriptedPeer, other: ScriptedPeer
) -> None:
    mallory = f"{other.base_url}/users/mallory"
    genuine = note(mallory, "1", content="<p>what mallory really said</p>")
    other.serve(genuine["id"], {"@context": "https://www.w3.org/ns/activitystreams", **genuine})
    forged = {**genuine, "content": "<p>words put in mallory's mouth</p>"}

    await local.deliver(peer, create(peer, "bob", forged))

    stored = await local.status(genuine["id"])
    assert stored is not None, await local.inbox_log()
    assert "really said" in stored.content
    assert stored.account_id == (await local.remote(mallory)).id


async def test_10_create_attributed_to_another_actor_of_the_same_host_is_not_stored(
    local: Exchange, peer: ScriptedPeer
) -> None:
    """The id is on bob's host, but the note claims to be carol's: only carol's server
    could say so, and it serves nothing at that id."""
    forged = note(CAROL, "1")
    peer.script(forged["id"], not_found)

    await local.deliver(peer, create(peer, "bob", forged))

    assert peer.gets[urlpath(forged["id"])] == 1
    assert await count(local, "statuses") == 0
    bobs_claim = note(BOB, "2", attributedTo=CAROL)  # bob's id, carol as the author
    await local.deliver(peer, create(peer, "bob", bobs_claim))
    assert await count(local, "statuses") == 0


async def test_10_create_reusing_a_known_id_does_not_touch_that_status(
    local: Exchange, peer: ScriptedPeer
) -> None:
    """Mastodon CVE-2024-37903: a Create naming an existing id must not widen its
    audience or change it unless the sender owns it."""
    private = note(CAROL, "1", to=[f"{CAROL}/followers"], cc=[])
    await local.deliver(peer, create(peer, "carol", private))
    widened = {**private, "to": [AS_PUBLIC], "content": "<p>now public</p>"}
    claimed = {**widened, "attributedTo": BOB}  # and bob claims to be its author

    await local.deliver(peer, create(peer, "bob", widened))
    await local.deliver(peer, create(peer, "bob", claimed))

    stored = await local.status(private["id"])
    assert stored is not None
    assert (stored.visibility, "now public" in stored.content) == ("private", False)
    assert stored.account_id == (await local.remote(CAROL)).id
    # The first is a forward of a known object (done: nothing to change); the second
    # claims carol's id as bob's own and is refused.
    assert [state for _, state, _ in await local.inbox_log()] == ["done", "done", "ignored"]


# -- 11. Delete of someone else's object --------------------------------------------------


@pytest.mark.parametrize("deleter", ["mallory on another host", "bob on the same host"])
async def test_11_delete_by_someone_else_leaves_the_object_intact(
    local: Exchange, peer: ScriptedPeer, other: ScriptedPeer, deleter: str
) -> None:
    carols = note(CAROL, "1")
    await local.deliver(peer, create(peer, "carol", carols))
    sender, name = (other, "mallory") if deleter.startswith("mallory") else (peer, "bob")

    delete = sender.activity(name, "Delete", {"id": carols["id"], "type": "Tombstone"})
    assert await local.send(sender, delete) in (202, 403)
    await local.process()

    assert await local.status(carols["id"]) is not None
    assert not await local.store.tombstones.exists(carols["id"])


async def test_11_delete_of_our_own_status_by_a_peer_is_refused(
    local: Exchange, peer: ScriptedPeer
) -> None:
    mine, my_uri = await alices_post(local)

    await local.deliver(peer, peer.activity("bob", "Delete", my_uri))

    status = await local.store.statuses.by_id(mine.id)
    assert status is not None
    assert status.deleted_at is None


# -- 12. Update of someone else's note or profile ----------------------------------------


async def test_12_update_of_another_actors_note_changes_nothing(
    local: Exchange, peer: ScriptedPeer
) -> None:
    carols = note(CAROL, "1", content="<p>carol's words</p>")
    await local.deliver(peer, create(peer, "carol", carols))
    stored = await local.status(carols["id"])
    assert stored is not None

    for edited in (
        {**carols, "content": "<p>bob's words</p>"},  # still attributed to carol
        {**carols, "content": "<p>bob's words</p>", "attributedTo": BOB},
    ):
        await local.deliver(peer, peer.activity("bob", "Update", edited))

    after = await local.status(carols["id"])
    assert after == stored
    assert await local.store.statuses.edits(stored.id) == []


async def test_12_update_person_of_another_actor_changes_nothing(
    local: Exchange, peer: ScriptedPeer
) -> None:
    await local.client.app[remote_actors_key].get(CAROL)
    carol = await local.remote(CAROL)
    peer.gets.clear()
    forged = {**peer.actor_document("carol"), "name": "Mallory was here"}

    await local.deliver(peer, peer.activity("bob", "Update", forged))

    assert await local.remote(CAROL) == carol
    # Only bob's key was fetched (to verify him): no refresh of carol on bob's say-so,
    # nor of bob for an Update that is not about him.
    assert peer.gets == {"/users/bob": 1}


async def test_12_update_person_takes_the_profile_from_the_origin_not_the_embedded_copy(
    local: Exchange, peer: ScriptedPeer
) -> None:
    """R6: even one's own Update only triggers a refetch; the embedded document (here
    with another key and name) is never stored."""
    await local.client.app[remote_actors_key].get(BOB)
    evil = {**peer.actor_document("bob"), "name": "Not Bob", "summary": "<p>forged</p>"}
    evil["publicKey"] = {**evil["publicKey"], "publicKeyPem": "forged"}

    await local.deliver(peer, peer.activity("bob", "Update", evil))

    bob = await local.remote(BOB)
    assert (bob.display_name, bob.summary) == ("Bob", "")
    assert bob.public_key_pem == peer.actor_document("bob")["publicKey"]["publicKeyPem"]


# -- 13. Undo of someone else's Follow, Like or Announce ----------------------------------


async def test_13_undo_of_someone_elses_follow_like_or_announce_changes_nothing(
    local: Exchange, peer: ScriptedPeer
) -> None:
    _, my_uri = await alices_post(local)
    carols_follow = peer.activity("carol", "Follow", ALICE)
    carols_like = peer.activity("carol", "Like", my_uri)
    carols_announce = peer.activity("carol", "Announce", my_uri, to=[AS_PUBLIC])
    for activity in (carols_follow, carols_like, carols_announce):
        await local.deliver(peer, activity)
    before = await snapshot(local)
    assert (before["follows"], before["favourites"], before["notifications"]) == (1, 1, 3)

    for undone in (carols_follow, carols_like, carols_announce):
        embedded = {k: v for k, v in undone.items() if k != "@context"}
        claimed = {**embedded, "actor": BOB}  # bob claims carol's activity as his own
        for obj in (embedded, claimed, undone["id"]):
            await local.deliver(peer, peer.activity("bob", "Undo", obj))

    assert await snapshot(local) == before
    assert {s for _, s, _ in (await local.inbox_log())[3:]} == {"ignored"}


# -- 14. boosts of posts that may not be boosted ----------------------------------------


async def test_14_announce_of_a_followers_only_or_direct_post_is_not_stored(
    local: Exchange, peer: ScriptedPeer
) -> None:
    alice = await local.local("alice")
    followers_only = note(CAROL, "1", to=[f"{CAROL}/followers"], cc=[])
    direct = note(CAROL, "2", to=[ALICE], cc=[])
    for obj in (followers_only, direct):
        await local.deliver(peer, create(peer, "carol", obj))
    _, my_private = await alices_post(local, "only followers", visibility="private")
    before = await snapshot(local)

    for target in (followers_only, direct):
        # By id, and embedded (the embedded copy is carol's, not bob's: not trusted).
        await local.deliver(peer, peer.activity("bob", "Announce", target["id"]))
        await local.deliver(peer, peer.activity("bob", "Announce", target))
    await local.deliver(peer, peer.activity("bob", "Announce", my_private))

    assert await snapshot(local) == before, await local.inbox_log()
    feed = await local.store.timelines.home(alice.id, Window(limit=20))
    assert [s.reblog_of_id for s in feed if s.reblog_of_id] == []
    assert "reblog" not in await kinds(local)
    assert {state for _, state, _ in (await local.inbox_log())[2:]} == {"ignored"}


async def test_14_the_author_may_boost_their_own_followers_only_post(
    local: Exchange, peer: ScriptedPeer
) -> None:
    own = note(CAROL, "1", to=[f"{CAROL}/followers"], cc=[])
    await local.deliver(peer, create(peer, "carol", own))

    await local.deliver(peer, peer.activity("carol", "Announce", own["id"]))

    stored = await local.status(own["id"])
    assert stored is not None
    carol = await local.remote(CAROL)
    assert await local.store.statuses.reblog_by(carol.id, stored.id) is not None


# -- 15. locked accounts, both ways -----------------------------------------------------


async def lock_alice(local: Exchange, clock: FrozenClock) -> None:
    alice = await local.local("alice")
    await local.store.accounts.update_profile(
        alice.id,
        manually_approves_followers=True,
        now=clock(),
    )


async def test_15_follow_of_a_locked_account_is_a_request_and_nothing_private_leaks(
    local: Exchange, peer: ScriptedPeer, clock: FrozenClock
) -> None:
    await lock_alice(local, clock)

    await bob_follows_alice(local, peer)

    alice, bob = await local.local("alice"), await local.remote(BOB)
    request = await local.store.follows.get(bob.id, alice.id)
    assert request is not None
    assert request.state == "pending"
    assert await kinds(local) == ["follow_request"]
    assert peer.received == []  # no Accept
    await alices_post(local, "for followers", visibility="private")
    await alices_post(local, "public words")
    assert peer.received == []  # bob is not a follower yet: neither post goes to him

    await local.client.app[outbox_key].answer_follow_request(alice, bob, accept=True)
    await local.process()
    assert [r.json()["type"] for r in peer.received] == ["Accept"]
    await alices_post(local, "welcome", visibility="private")
    assert [r.json()["type"] for r in peer.received] == ["Accept", "Create"]


async def test_15_our_follow_of_a_locked_remote_waits_for_the_remotes_own_accept(
    local: Exchange, peer: ScriptedPeer, other: ScriptedPeer
) -> None:
    app = local.client.app
    alice = await local.local("alice")
    bob = await app[remote_actors_key].get(BOB)
    await app[outbox_key].follow(alice, bob)
    await local.process()
    [sent] = peer.received
    our_follow = {k: v for k, v in sent.json().items() if k not in ("@context", "proof")}

    for sender, name in ((peer, "carol"), (other, "mallory")):
        for obj in (our_follow, our_follow["id"]):
            await local.deliver(sender, sender.activity(name, "Accept", obj))
    follow = await local.store.follows.get(alice.id, bob.id)
    assert follow is not None, await local.inbox_log()
    assert follow.state == "pending", await local.inbox_log()
    # A Reject from a third party does not end it either.
    await local.deliver(peer, peer.activity("carol", "Reject", our_follow))
    assert await local.store.follows.get(alice.id, bob.id) == follow

    await local.deliver(peer, peer.activity("bob", "Accept", our_follow))

    accepted = await local.store.follows.get(alice.id, bob.id)
    assert accepted is not None
    assert accepted.state == "accepted"


# -- 21. absurd arrays -------------------------------------------------------------------


def absurd(kind: str) -> dict[str, Any]:
    if kind == "10,000 hashtags":
        return {"tag": [{"type": "Hashtag", "name": f"#t{i}"} for i in range(10_000)]}
    if kind == "10,000 mentions":
        return {
            "tag": [
                {"type": "Mention", "href": f"{PEER}/users/u{i}", "name": f"@u{i}"}
                for i in range(10_000)
            ]
        }
    if kind == "1,000 poll options":
        return {
            "type": "Question",
            "oneOf": [
                {"type": "Note", "name": f"option {i}", "replies": {"totalItems": i}}
                for i in range(1_000)
            ],
        }
    if kind == "500 attachments":
        return {
            "attachment": [
                {"type": "Document", "mediaType": "image/png", "url": f"{PEER}/m/{i}.png"}
                for i in range(500)
            ]
        }
    assert kind == "20,000 recipients"
    # Short ids: the activity repeats them, and both copies must fit in 1 MiB.
    return {"to": [AS_PUBLIC, *(f"http://x.test/{i}" for i in range(20_000))]}


@pytest.mark.parametrize(
    "kind",
    [
        "10,000 hashtags",
        "10,000 mentions",
        "1,000 poll options",
        "500 attachments",
        "20,000 recipients",
    ],
)
async def test_21_absurd_arrays_are_capped_without_a_fetch_storm(
    local: Exchange, peer: ScriptedPeer, kind: str
) -> None:
    posted = note(BOB, "1", **absurd(kind))
    activity = create(peer, "bob", posted)

    started = time.monotonic()
    assert await local.send(peer, activity) == 202
    answered = time.monotonic() - started
    await local.process()
    processed = time.monotonic() - started

    stored = await local.status(posted["id"])
    assert stored is not None, await local.inbox_log()
    assert sum(peer.gets.values()) <= 2  # bob's key/actor, nothing per array entry
    assert answered < 2.0, answered
    assert processed < 5.0, processed
    parts = await local.store.statuses.parts(stored.id)
    assert len(parts.tags) <= MAX_TAGS
    assert len(parts.mentions) <= MAX_MENTIONS
    assert len(stored.poll["options"] if stored.poll else []) <= MAX_POLL_OPTIONS
    assert await count(local, "media_attachments") <= MAX_ATTACHMENTS
    if kind == "10,000 hashtags":
        assert len(parts.tags) == MAX_TAGS
    if kind == "1,000 poll options":
        assert stored.poll is not None
        assert len(stored.poll["options"]) == MAX_POLL_OPTIONS
    if kind == "500 attachments":
        assert await count(local, "media_attachments") == MAX_ATTACHMENTS


# -- 22. hostile markup -----------------------------------------------------------------

HOSTILE = (
    "<p>hi</p><script>alert(1)</script>"
    '<img src="x" onerror="alert(2)">'
    '<a href="javascript:alert(3)">click</a>'
    '<iframe src="http://evil.test/"></iframe>'
    '<p style="position:fixed" onclick="alert(4)">styled</p>'
)


class Elements(HTMLParser):
    """Every element of an HTML fragment with its attributes, as a browser sees them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))


def assert_inert(html: str) -> None:
    """No script, frame, image, event handler, inline style or javascript: URL."""
    elements = Elements(html).elements
    assert not {tag for tag, _ in elements} & {"script", "iframe", "img", "style", "object"}
    for tag, attrs in elements:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name != "style", tag
            assert "javascript:" not in (value or "").lower(), (tag, name)


async def test_22_hostile_markup_in_notes_is_sanitised_when_stored(
    local: Exchange, peer: ScriptedPeer
) -> None:
    article = note(
        BOB,
        "1",
        type="Article",
        name='<script>alert("title")</script>Title',
        content=HOSTILE,
        summary="<b onmouseover=alert(5)>cw</b>",
        tag=[
            {
                "type": "Emoji",
                "name": ':x" onerror="alert(6):',
                "icon": {"url": f"{PEER}/e.png"},
            },
            {"type": "Emoji", "name": ":ok:", "icon": {"url": "javascript:alert(7)"}},
            {"type": "Emoji", "name": ":good:", "icon": {"url": f"{PEER}/good.png"}},
        ],
    )

    await local.deliver(peer, create(peer, "bob", article))

    stored = await local.status(article["id"])
    assert stored is not None, await local.inbox_log()
    assert_inert(stored.content)
    assert "<p>hi</p>" in stored.content
    assert "click" in stored.content
    assert "&lt;script&gt;" in stored.content  # the title is text, escaped into the HTML
    # The content warning is plain text (never rendered as HTML): kept as inert text.
    assert stored.spoiler_text == "<b onmouseover=alert(5)>cw</b>"
    assert (await local.store.statuses.parts(stored.id)).emojis == (("good", f"{PEER}/good.png"),)


async def test_22_hostile_markup_in_a_profile_is_sanitised_when_stored(
    local: Exchange, peer: ScriptedPeer
) -> None:
    document = peer.actor_document("bob")
    document.update(
        name="<script>alert(1)</script>Bob",
        summary=HOSTILE,
        attachment=[{"type": "PropertyValue", "name": "<i>site</i>", "value": HOSTILE}],
    )
    peer.serve(BOB, document)

    await bob_follows_alice(local, peer)

    bob = await local.remote(BOB)
    assert_inert(bob.summary)
    assert "<p>hi</p>" in bob.summary
    [field] = bob.fields
    assert_inert(field.value)
    # Names are plain text (Mastodon's display_name): stored as text, escaped on output.
    assert bob.display_name == "<script>alert(1)</script>Bob"
    assert field.name == "<i>site</i>"


async def test_22_pages_that_show_remote_content_carry_no_active_markup(
    local: Exchange, peer: ScriptedPeer
) -> None:
    """A boost by alice of a hostile note is listed on her profile page: the page stays
    inert and carries the CSP. (Today the page lists a boost without the boosted text,
    and no page shows remote accounts; the render-time filter over hostile stored HTML
    is tested in tests/actors/test_profile_page.py. This guards the day boosts show
    their text.)"""
    hostile = note(BOB, "1", content=HOSTILE, summary="<script>alert(8)</script>")
    await local.deliver(peer, create(peer, "bob", hostile))
    stored = await local.status(hostile["id"])
    assert stored is not None
    await local.client.app[outbox_key].reblog(await local.local("alice"), stored)
    await local.process()

    response = await local.client.get("/@alice", headers={"Accept": "text/html"})

    assert response.status == 200
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert_inert(await response.text())


# -- 24. the same activity twice ---------------------------------------------------------


async def test_24_the_same_activity_twice_is_processed_once(
    local: Exchange, peer: ScriptedPeer
) -> None:
    _, my_uri = await alices_post(local)
    mention = [{"type": "Mention", "href": ALICE, "name": "@alice@local.test"}]
    activities = [
        peer.activity("bob", "Follow", ALICE),
        peer.activity("bob", "Like", my_uri),
        peer.activity("bob", "Announce", my_uri, to=[AS_PUBLIC]),
        create(peer, "bob", note(BOB, "1", inReplyTo=my_uri, tag=mention)),
    ]
    for activity in activities:
        await local.deliver(peer, activity)
    once = await snapshot(local)
    received = len(peer.received)

    for activity in activities:
        assert await local.send(peer, activity) == 202
    await local.process()

    assert await snapshot(local) == once
    assert await kinds(local) == ["favourite", "follow", "mention", "reblog"]
    assert await local.store.inbox.count() == len(activities)
    assert len(peer.received) == received  # no second Accept


async def test_24_the_same_reaction_under_a_new_activity_id_counts_once(
    local: Exchange, peer: ScriptedPeer
) -> None:
    """Some peers mint a new id when they redeliver: the reaction still counts once."""
    _, my_uri = await alices_post(local)
    for _ in range(2):
        await local.deliver(peer, peer.activity("bob", "Like", my_uri))
        await local.deliver(peer, peer.activity("bob", "Announce", my_uri, to=[AS_PUBLIC]))
        await local.deliver(peer, peer.activity("bob", "Follow", ALICE))
    posted = note(BOB, "1", tag=[{"type": "Mention", "href": ALICE, "name": "@alice"}])
    for _ in range(2):
        await local.deliver(peer, create(peer, "bob", posted))

    assert (await count(local, "favourites"), await count(local, "follows")) == (1, 1)
    assert await count(local, "statuses") == 3  # alice's post, one boost, one note
    assert await kinds(local) == ["favourite", "follow", "mention", "reblog"]


# -- 25. Delete before Create ------------------------------------------------------------


async def test_25_a_create_after_its_delete_is_ignored(local: Exchange, peer: ScriptedPeer) -> None:
    posted = note(BOB, "1")

    await local.deliver(
        peer, peer.activity("bob", "Delete", {"id": posted["id"], "type": "Tombstone"})
    )
    await local.deliver(peer, create(peer, "bob", posted))

    assert await local.status(posted["id"]) is None
    assert await count(local, "statuses") == 0
    # And no boost or reply brings it back either.
    await local.deliver(peer, peer.activity("carol", "Announce", posted["id"]))
    assert await count(local, "statuses") == 0


@pytest.mark.parametrize("deleter", ["mallory on another host", "carol on the same host"])
async def test_25_a_delete_by_someone_else_does_not_reserve_the_id(
    local: Exchange, peer: ScriptedPeer, other: ScriptedPeer, deleter: str
) -> None:
    """Only the author's Delete marks an id deleted (Mastodon keys the marker by the
    deleting account): anyone else's would suppress the author's real Create."""
    posted = note(BOB, "1")
    sender, name = (other, "mallory") if deleter.startswith("mallory") else (peer, "carol")

    await local.deliver(
        sender, sender.activity(name, "Delete", {"id": posted["id"], "type": "Tombstone"})
    )
    await local.deliver(peer, create(peer, "bob", posted))

    assert await local.status(posted["id"]) is not None, await local.inbox_log()


def urlpath(url: str) -> str:
    return "/" + url.split("/", 3)[3]


async def not_found(request: web.Request) -> web.Response:
    """What a peer answers for an object it does not have (counted in `gets`)."""
    raise web.HTTPNotFound()
