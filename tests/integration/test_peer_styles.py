"""Our instance against fake GoToSocial, snac and bovine servers (../shared/PEERS.md).

Each peer signs, addresses and delivers in its own way: GoToSocial posts ld+json to our
shared inbox, signs with a `/main-key` key document and writes `to` as a bare string;
snac sends even its Follow and Accept to the shared inbox; bovine delivers to the
personal inbox with a lowercase `sha-256=` digest and addresses the public as
`as:Public`. Whatever they send must have its effect once the inbox worker ran; what we
send them (the Accept of their Follow, our Follow, a post to our followers) must verify
against our actor's published key, and our Accept must embed their Follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from fedserver.activitystreams import PUBLIC
from fedserver.appkeys import outbox_key, remote_actors_key
from fedserver.db import StatusRow, Window
from tests.conftest import Client, CreateUser, StartPeer
from tests.fakes.exchange import LOCAL, Exchange
from tests.fakes.remote import ACTIVITY_JSON, AS_PUBLIC, BOVINE, GOTOSOCIAL, SNAC, FakePeer, Style

ALICE = f"{LOCAL}/users/alice"


@dataclass(frozen=True)
class Habits:
    """How one implementation delivers and addresses, besides how it signs."""

    style: Style
    #: Where it POSTs activities for alice (shared inbox when we advertise one).
    inbox_path: str
    #: How it writes `to` for a public post.
    public_to: Any
    context: Any


HABITS = [
    Habits(
        GOTOSOCIAL,
        "/inbox",
        AS_PUBLIC,  # a bare string, not a list
        ["https://www.w3.org/ns/activitystreams", "https://gotosocial.org/ns"],
    ),
    Habits(SNAC, "/inbox", [AS_PUBLIC], "https://www.w3.org/ns/activitystreams"),
    Habits(BOVINE, "/users/alice/inbox", ["as:Public"], "https://www.w3.org/ns/activitystreams"),
]


@pytest.fixture(params=HABITS, ids=lambda h: h.style.name)
def habits(request: pytest.FixtureRequest) -> Habits:
    habits: Habits = request.param
    return habits


@pytest.fixture
async def peer(make_user: CreateUser, start_peer: StartPeer, habits: Habits) -> FakePeer:
    """alice here; bob and carol on a peer of the given style."""
    await make_user("alice")
    peer: FakePeer = await start_peer(f"{habits.style.name}.test", habits.style, "bob", "carol")
    return peer


@pytest.fixture
def local(app_client: Client) -> Exchange:
    return Exchange(app_client)


def activity(
    peer: FakePeer, habits: Habits, name: str, kind: str, obj: Any, **extra: Any
) -> dict[str, Any]:
    found = peer.activity(name, kind, obj, **extra)
    found["@context"] = habits.context
    return found


async def followed_by_bob(local: Exchange, peer: FakePeer, habits: Habits) -> dict[str, Any]:
    """bob follows alice (accepted at once: alice is not locked); returns the Follow."""
    follow = activity(peer, habits, "bob", "Follow", ALICE)
    await local.deliver(peer, follow, path=habits.inbox_path)
    return follow


def note(peer: FakePeer, name: str, serial: str, **fields: Any) -> dict[str, Any]:
    uri = peer.actor_uri(name)
    return {
        "id": f"{uri}/statuses/{serial}",
        "type": "Note",
        "attributedTo": uri,
        "content": f"<p>note {serial}</p>",
        "published": "2026-11-21T11:59:00Z",
        **fields,
    }


async def alices_post(local: Exchange, text: str = "hello peers") -> tuple[StatusRow, str]:
    app = local.client.app
    status = await app[outbox_key].post(await local.local("alice"), text)
    return status, f"{ALICE}/statuses/{status.id}"


# -- what we answer and send --------------------------------------------------------------


async def test_their_follow_gets_a_signed_accept_that_embeds_it(
    local: Exchange, peer: FakePeer, habits: Habits
) -> None:
    follow = await followed_by_bob(local, peer, habits)

    bob = await local.remote(peer.actor_uri("bob"))
    alice = await local.local("alice")
    stored = await local.store.follows.get(bob.id, alice.id)
    assert stored is not None
    assert stored.state == "accepted"
    assert stored.uri == follow["id"]
    [accept] = peer.received
    assert accept.path == "/users/bob/inbox"  # addressed to the follower itself
    assert accept.headers["Content-Type"] == ACTIVITY_JSON
    assert accept.headers["Digest"].startswith("SHA-256=")  # snac refuses `sha-256=`
    signed = await local.verify(accept, "alice")
    assert {"(request-target)", "host", "date", "digest"} <= set(signed.covered)
    body = accept.json()
    assert (body["type"], body["actor"]) == ("Accept", ALICE)
    embedded = body["object"]
    assert isinstance(embedded, dict)
    assert {k: embedded[k] for k in ("id", "type", "actor", "object")} == {
        "id": follow["id"],
        "type": "Follow",
        "actor": peer.actor_uri("bob"),
        "object": ALICE,
    }


async def test_our_post_reaches_the_follower_signed_through_its_shared_inbox(
    local: Exchange, peer: FakePeer, habits: Habits
) -> None:
    await followed_by_bob(local, peer, habits)
    peer.received.clear()

    status, uri = await alices_post(local, "hello #peers")
    await local.process()

    [create] = peer.received
    assert create.path == "/inbox"  # the peer advertises a shared inbox
    await local.verify(create, "alice")
    body = create.json()
    assert (body["type"], body["actor"]) == ("Create", ALICE)
    assert body["to"] == [PUBLIC]  # we emit the full URI, in a list
    assert body["cc"] == [f"{ALICE}/followers"]
    assert body["object"]["id"] == uri
    assert body["object"]["attributedTo"] == ALICE
    assert "hello" in body["object"]["content"]
    assert body["id"] == f"{uri}/activity"
    assert status.visibility == "public"


@pytest.mark.parametrize("embedded", [True, False], ids=["embedded-follow", "bare-follow-id"])
async def test_our_follow_is_signed_and_accepted_by_their_accept(
    local: Exchange, peer: FakePeer, habits: Habits, embedded: bool
) -> None:
    app = local.client.app
    bob = await app[remote_actors_key].resolve_acct(f"bob@{peer.domain}")
    alice = await local.local("alice")
    assert await app[outbox_key].follow(alice, bob) == "pending"
    await local.process()

    [sent] = peer.received
    assert sent.path == "/users/bob/inbox"
    await local.verify(sent, "alice")
    our_follow = sent.json()
    assert (our_follow["type"], our_follow["object"]) == ("Follow", peer.actor_uri("bob"))
    pending = await local.store.follows.get(alice.id, bob.id)
    assert pending is not None
    assert pending.state == "pending"

    obj = {k: v for k, v in our_follow.items() if k not in ("@context", "proof")}
    accept = activity(peer, habits, "bob", "Accept", obj if embedded else our_follow["id"])
    await local.deliver(peer, accept, path=habits.inbox_path)

    accepted = await local.store.follows.get(alice.id, bob.id)
    assert accepted is not None, await local.inbox_log()
    assert accepted.state == "accepted", await local.inbox_log()


# -- what they send -----------------------------------------------------------------------


async def test_their_notes_reactions_undos_and_deletes_take_effect(
    local: Exchange, peer: FakePeer, habits: Habits
) -> None:
    follow = await followed_by_bob(local, peer, habits)
    alice = await local.local("alice")
    bob = await local.remote(peer.actor_uri("bob"))
    mine, my_uri = await alices_post(local)
    path = habits.inbox_path

    # A public reply that mentions alice, addressed the peer's way.
    reply = note(
        peer,
        "bob",
        "1",
        inReplyTo=my_uri,
        to=habits.public_to,
        cc=[peer.actor_uri("bob") + "/followers", ALICE],
        tag=[{"type": "Mention", "href": ALICE, "name": "@alice@local.test"}],
    )
    create = activity(peer, habits, "bob", "Create", reply, to=habits.public_to)
    await local.deliver(peer, create, path=path)
    stored = await local.status(reply["id"])
    assert stored is not None, await local.inbox_log()
    assert (stored.visibility, stored.account_id) == ("public", bob.id)
    assert (stored.in_reply_to_id, stored.in_reply_to_account_id) == (mine.id, alice.id)
    assert await kinds(local, "alice") == ["follow", "mention"]

    like = activity(peer, habits, "bob", "Like", my_uri)
    await local.deliver(peer, like, path=path)
    assert await local.store.favourites.get(bob.id, mine.id) is not None
    assert await kinds(local, "alice") == ["favourite", "follow", "mention"]

    announce = activity(peer, habits, "carol", "Announce", my_uri, to=habits.public_to)
    await local.deliver(peer, announce, path=path)
    carol = await local.remote(peer.actor_uri("carol"))
    boost = await local.store.statuses.reblog_by(carol.id, mine.id)
    assert boost is not None
    assert boost.uri == announce["id"]
    assert await kinds(local, "alice") == ["favourite", "follow", "mention", "reblog"]

    await local.deliver(peer, activity(peer, habits, "bob", "Undo", strip(like)), path=path)
    assert await local.store.favourites.get(bob.id, mine.id) is None
    undo_boost = activity(peer, habits, "carol", "Undo", strip(announce))
    await local.deliver(peer, undo_boost, path=path)
    assert await local.store.statuses.reblog_by(carol.id, mine.id) is None
    assert await kinds(local, "alice") == ["follow", "mention"]

    tombstone = {"id": reply["id"], "type": "Tombstone"}
    await local.deliver(peer, activity(peer, habits, "bob", "Delete", tombstone), path=path)
    assert await local.status(reply["id"]) is None
    assert await local.store.statuses.counts(mine.id) == (0, 0, 0)

    await local.deliver(peer, activity(peer, habits, "bob", "Undo", strip(follow)), path=path)
    assert await local.store.follows.get(bob.id, alice.id) is None
    assert await kinds(local, "alice") == []  # the mention went with the deleted reply
    assert {state for _, state, _ in await local.inbox_log()} == {"done"}, await local.inbox_log()


def strip(activity: dict[str, Any]) -> dict[str, Any]:
    """An activity as embedded in another (no @context)."""
    return {k: v for k, v in activity.items() if k != "@context"}


async def kinds(local: Exchange, username: str) -> list[str]:
    account = await local.local(username)
    return sorted(
        n.type
        for n in await local.store.timelines.notifications(
            account.id, Window(limit=80), types=[], exclude_types=[], from_account_id=None
        )
    )


#: Addressing (FOLLOWERS stands for the author's followers collection) → visibility.
PUBLIC_FORMS: dict[str, tuple[dict[str, Any], str]] = {
    "full URI as a string": ({"to": AS_PUBLIC}, "public"),
    "full URI in a list": ({"to": [AS_PUBLIC]}, "public"),
    "as:Public": ({"to": ["as:Public"]}, "public"),
    "Public": ({"to": "Public"}, "public"),
    "public in cc": ({"to": ["FOLLOWERS"], "cc": ["as:Public"]}, "unlisted"),
    "followers only": ({"to": "FOLLOWERS"}, "private"),
    "alice only": ({"to": [ALICE]}, "direct"),
}


@pytest.mark.parametrize("form", PUBLIC_FORMS, ids=str)
async def test_every_addressing_form_gives_the_right_visibility(
    local: Exchange, peer: FakePeer, habits: Habits, form: str
) -> None:
    addressing, visibility = PUBLIC_FORMS[form]
    followers = peer.actor_uri("bob") + "/followers"

    def resolved(value: str) -> str:
        return followers if value == "FOLLOWERS" else value

    fields = {
        key: [resolved(v) for v in value] if isinstance(value, list) else resolved(value)
        for key, value in addressing.items()
    }
    posted = note(peer, "bob", "7", **fields)

    await local.deliver(peer, activity(peer, habits, "bob", "Create", posted, **fields))

    stored = await local.status(posted["id"])
    assert stored is not None, await local.inbox_log()
    assert stored.visibility == visibility
