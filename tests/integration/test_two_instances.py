"""Two fedserver instances, a.test and b.test, federating for real over loopback.

Every scenario acts through one instance's `Outbox` (as the client API will), settles
both instances' delivery and inbox workers, and asserts on both sides: what the acting
side stored, and what the other side made of the signed activity it received.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from fedserver.db import AccountRow, StatusRow
from fedserver.errors import Forbidden
from tests.integration.conftest import Instance, Network, StartNetwork


@pytest.fixture
async def net(instances: StartNetwork) -> Network:
    """alice on a.test, bob on b.test."""
    network = await instances("a", "b")
    await network["a"].user("alice")
    await network["b"].user("bob")
    return network


async def follow(net: Network, follower: tuple[str, str], target: tuple[str, str]) -> AccountRow:
    """`follower` (instance, username) follows the remote `target` and everything settles;
    returns the target's account as the follower's instance stores it."""
    (side, name), (other, target_name) = follower, target
    here = net[side]
    remote = await here.resolve(f"{target_name}@{net[other].domain}")
    await here.outbox.follow(await here.local(name), remote)
    await net.settle()
    return remote


async def remote_of(instance: Instance, other: Instance, username: str) -> AccountRow:
    """`username` of `other` as `instance` stores it (it must be known already)."""
    account = await instance.account(other.uri(username))
    assert account is not None, f"{instance.name} does not know {username}@{other.domain}"
    return account


async def posted(instance: Instance, username: str, text: str, **options: Any) -> StatusRow:
    return await instance.outbox.post(await instance.local(username), text, **options)


# -- follows --------------------------------------------------------------------------------


async def test_follow_is_pending_until_the_accept_then_accepted_on_both_sides(
    net: Network,
) -> None:
    a, b = net["a"], net["b"]
    alice = await a.local("alice")
    bob_on_a = await a.resolve("bob@b.test")

    assert await a.outbox.follow(alice, bob_on_a) == "pending"
    follow_on_a = await a.store.follows.get(alice.id, bob_on_a.id)
    assert follow_on_a is not None
    assert follow_on_a.state == "pending"

    await net.settle()

    alice_on_b = await remote_of(b, a, "alice")
    bob = await b.local("bob")
    follow_on_b = await b.store.follows.get(alice_on_b.id, bob.id)
    assert follow_on_b is not None
    assert follow_on_b.state == "accepted"
    assert follow_on_b.uri == follow_on_a.uri  # the same Follow, known by its id on both
    assert await b.store.follows.remote_follower_inboxes(bob.id) == [
        ("http://a.test/users/alice/inbox", "http://a.test/inbox")
    ]
    assert await b.notification_kinds("bob") == ["follow"]
    accepted = await a.store.follows.get(alice.id, bob_on_a.id)
    assert accepted is not None
    assert accepted.state == "accepted"
    assert await a.inbox_log() == [("Accept", "done", None)]
    assert await b.inbox_log() == [("Follow", "done", None)]


async def test_public_post_reaches_the_followers_home_feed(net: Network) -> None:
    a, b = net["a"], net["b"]
    await follow(net, ("a", "alice"), ("b", "bob"))

    status = await posted(b, "bob", "Hello from #bee, @alice@a.test!")
    await net.settle()

    uri = b.status_uri("bob", status)
    on_a = await a.status(uri)
    assert on_a is not None
    assert on_a.visibility == "public"
    assert "Hello from" in on_a.content
    assert on_a.account_id == (await remote_of(a, b, "bob")).id
    assert [s.uri for s in await a.home("alice")] == [uri]
    assert [s.id for s in await b.home("bob")] == [status.id]  # the author's own feed


async def test_unfollow_removes_the_follower_and_later_posts_stay_home(net: Network) -> None:
    a, b = net["a"], net["b"]
    bob_on_a = await follow(net, ("a", "alice"), ("b", "bob"))
    alice = await a.local("alice")

    await a.outbox.unfollow(alice, bob_on_a)
    await net.settle()

    bob = await b.local("bob")
    assert await b.store.follows.follower_ids_of(bob.id) == []
    assert await b.notification_kinds("bob") == []  # the follow notification is withdrawn
    assert await a.store.follows.get(alice.id, bob_on_a.id) is None
    status = await posted(b, "bob", "nobody from a.test listens")
    await net.settle()
    assert await a.status(b.status_uri("bob", status)) is None
    assert await a.home("alice") == []


# -- replies, likes, boosts -----------------------------------------------------------------


async def test_reply_is_linked_to_its_parent_and_notifies_the_mentioned_author(
    net: Network,
) -> None:
    a, b = net["a"], net["b"]
    bob_on_a = await follow(net, ("a", "alice"), ("b", "bob"))
    original = await posted(b, "bob", "What do you think?")
    await net.settle()
    parent_on_a = await a.status(b.status_uri("bob", original))
    assert parent_on_a is not None

    reply = await a.outbox.post(
        await a.local("alice"),
        "@bob@b.test I think so",
        in_reply_to=parent_on_a,
        mentions=[bob_on_a],
    )
    await net.settle()

    reply_on_b = await b.status(a.status_uri("alice", reply))
    assert reply_on_b is not None, await b.inbox_log()
    assert reply_on_b.in_reply_to_id == original.id
    assert reply_on_b.in_reply_to_account_id == (await b.local("bob")).id
    assert reply_on_b.in_reply_to_uri == b.status_uri("bob", original)
    mentions = [n for n in await b.notifications("bob") if n.type == "mention"]
    assert [n.status_id for n in mentions] == [reply_on_b.id]
    assert reply_on_b.id in [s.id for s in await b.home("bob")]
    assert await b.store.statuses.counts(original.id) == (1, 0, 0)


async def test_favourite_and_unfavourite_reach_the_author(net: Network) -> None:
    a, b = net["a"], net["b"]
    await follow(net, ("a", "alice"), ("b", "bob"))
    original = await posted(b, "bob", "like me")
    await net.settle()
    on_a = await a.status(b.status_uri("bob", original))
    assert on_a is not None
    alice = await a.local("alice")

    await a.outbox.favourite(alice, on_a)
    await net.settle()

    alice_on_b = await remote_of(b, a, "alice")
    assert await b.store.favourites.get(alice_on_b.id, original.id) is not None
    assert await b.store.statuses.counts(original.id) == (0, 0, 1)
    favourites = [n for n in await b.notifications("bob") if n.type == "favourite"]
    assert [(n.from_account_id, n.status_id) for n in favourites] == [(alice_on_b.id, original.id)]

    await a.outbox.unfavourite(alice, on_a)
    await net.settle()

    assert await a.store.favourites.get(alice.id, on_a.id) is None
    assert await b.store.favourites.get(alice_on_b.id, original.id) is None
    assert "favourite" not in await b.notification_kinds("bob")


async def test_reblog_and_unreblog_reach_the_author(net: Network) -> None:
    a, b = net["a"], net["b"]
    await follow(net, ("a", "alice"), ("b", "bob"))
    original = await posted(b, "bob", "boost me")
    await net.settle()
    on_a = await a.status(b.status_uri("bob", original))
    assert on_a is not None
    alice = await a.local("alice")

    reblog = await a.outbox.reblog(alice, on_a)
    await net.settle()

    alice_on_b = await remote_of(b, a, "alice")
    reblog_on_b = await b.store.statuses.reblog_by(alice_on_b.id, original.id)
    assert reblog_on_b is not None, await b.inbox_log()
    assert reblog_on_b.uri == f"http://a.test/users/alice/statuses/{reblog.id}/activity"
    assert await b.store.statuses.counts(original.id) == (0, 1, 0)
    reblogs = [n for n in await b.notifications("bob") if n.type == "reblog"]
    assert [(n.from_account_id, n.status_id) for n in reblogs] == [(alice_on_b.id, original.id)]

    await a.outbox.unreblog(alice, on_a)
    await net.settle()

    assert await a.store.statuses.reblog_by(alice.id, on_a.id) is None
    assert await b.store.statuses.reblog_by(alice_on_b.id, original.id) is None
    assert await b.store.statuses.counts(original.id) == (0, 0, 0)
    assert "reblog" not in await b.notification_kinds("bob")


# -- edits and deletes ----------------------------------------------------------------------


async def test_edit_reaches_the_follower_with_its_history(net: Network) -> None:
    a, b = net["a"], net["b"]
    await follow(net, ("a", "alice"), ("b", "bob"))
    original = await posted(b, "bob", "first version")
    await net.settle()
    net.clock.advance(minutes=5)

    await b.outbox.edit(await b.local("bob"), original, "second version")
    await net.settle()

    on_a = await a.status(b.status_uri("bob", original))
    assert on_a is not None, await a.inbox_log()
    assert "second version" in on_a.content
    assert on_a.edited_at == net.clock()
    [(previous, _, _, _)] = await a.store.statuses.edits(on_a.id)
    assert "first version" in previous
    assert [kind for kind, _, _ in await a.inbox_log()] == ["Accept", "Create", "Update"]


async def test_delete_removes_the_copy_and_leaves_a_tombstone_on_the_origin(
    net: Network,
) -> None:
    a, b = net["a"], net["b"]
    await follow(net, ("a", "alice"), ("b", "bob"))
    original = await posted(b, "bob", "soon gone")
    await net.settle()
    uri = b.status_uri("bob", original)
    assert await a.status(uri) is not None

    await b.outbox.delete(await b.local("bob"), original)
    await net.settle()

    assert await a.status(uri) is None, await a.inbox_log()
    assert await a.home("alice") == []
    assert await a.store.tombstones.exists(uri)  # a late Create of it is ignored
    response = await b.client.get(
        f"/users/bob/statuses/{original.id}", headers={"Accept": "application/activity+json"}
    )
    assert response.status == 410
    tombstone = await response.json()
    assert (tombstone["type"], tombstone["id"]) == ("Tombstone", uri)


# -- blocks -------------------------------------------------------------------------------


async def test_block_severs_follows_on_both_sides_and_a_later_follow_is_rejected(
    net: Network,
) -> None:
    a, b = net["a"], net["b"]
    bob_on_a = await follow(net, ("a", "alice"), ("b", "bob"))
    alice_on_b = await follow(net, ("b", "bob"), ("a", "alice"))
    alice, bob = await a.local("alice"), await b.local("bob")
    assert await a.store.follows.count_following(alice.id) == 1
    assert await a.store.follows.count_followers(alice.id) == 1

    await b.outbox.block(bob, alice_on_b)
    await net.settle()

    for instance, me, them in ((a, alice, bob_on_a), (b, alice_on_b, bob)):
        assert await instance.store.follows.get(me.id, them.id) is None, instance.name
        assert await instance.store.follows.get(them.id, me.id) is None, instance.name
    assert await a.store.blocks.is_blocked(bob_on_a.id, alice.id)  # A knows, and respects it
    with pytest.raises(Forbidden):
        await a.outbox.follow(alice, bob_on_a)

    # An instance that forgot the Block (or never processed it) sends the Follow anyway:
    # b.test answers with a Reject, and a.test drops the request.
    found = await a.store.blocks.get(bob_on_a.id, alice.id)
    assert found is not None
    async with a.store.db.transaction() as tx:
        await a.store.blocks.remove(tx, found[0])
    assert await a.outbox.follow(alice, bob_on_a) == "pending"
    await net.settle()

    assert await b.store.follows.get(alice_on_b.id, bob.id) is None
    assert await a.store.follows.get(alice.id, bob_on_a.id) is None, await a.inbox_log()
    assert await b.inbox_log() == [
        ("Follow", "done", None),
        ("Accept", "done", None),
        ("Follow", "ignored", "Follow from an actor the target blocks: rejected"),
    ]
    assert [kind for kind, _, _ in await a.inbox_log()][-2:] == ["Block", "Reject"]


# -- locked accounts ------------------------------------------------------------------------


async def test_locked_account_approves_by_hand_and_nothing_private_leaks_before(
    net: Network,
) -> None:
    a, b = net["a"], net["b"]
    bob = await b.local("bob")
    await b.store.accounts.update_profile(
        bob.id,
        manually_approves_followers=True,
        now=net.clock(),
    )
    bob_on_a = await follow(net, ("a", "alice"), ("b", "bob"))
    assert bob_on_a.manually_approves_followers
    alice = await a.local("alice")
    alice_on_b = await remote_of(b, a, "alice")

    request = await b.store.follows.get(alice_on_b.id, bob.id)
    assert request is not None
    assert request.state == "pending"
    assert await b.notification_kinds("bob") == ["follow_request"]
    waiting = await a.store.follows.get(alice.id, bob_on_a.id)
    assert waiting is not None
    assert waiting.state == "pending"

    private = await posted(b, "bob", "for my followers only", visibility="private")
    await net.settle()
    assert await a.status(b.status_uri("bob", private)) is None
    assert await b.delivery_log() == []  # neither an Accept nor the private post left b.test

    await b.outbox.answer_follow_request(await b.local("bob"), alice_on_b, accept=True)
    await net.settle()

    accepted = await a.store.follows.get(alice.id, bob_on_a.id)
    assert accepted is not None, await a.inbox_log()
    assert accepted.state == "accepted", await a.inbox_log()
    approved = await b.store.follows.get(alice_on_b.id, bob.id)
    assert approved is not None
    assert approved.state == "accepted"
    assert await b.notification_kinds("bob") == []

    later = await posted(b, "bob", "welcome, followers", visibility="private")
    await net.settle()
    on_a = await a.status(b.status_uri("bob", later))
    assert on_a is not None
    assert on_a.visibility == "private"
    assert [s.uri for s in await a.home("alice")] == [b.status_uri("bob", later)]
    assert await a.status(b.status_uri("bob", private)) is None  # no backfill of the old one


# -- moving accounts ------------------------------------------------------------------------


async def test_move_to_another_instance_takes_the_followers_along(net: Network) -> None:
    a, b = net["a"], net["b"]
    await b.user("carol")
    await b.user("alice2")
    alice_on_b = await follow(net, ("b", "carol"), ("a", "alice"))
    alice2 = await b.local("alice2")
    await b.store.accounts.update_profile(
        alice2.id,
        also_known_as=[a.uri("alice")],
        now=net.clock(),
    )
    alice = await a.local("alice")
    alice2_on_a = await a.resolve("alice2@b.test")
    assert alice2_on_a.also_known_as == (a.uri("alice"),)

    await a.outbox.move(alice, alice2_on_a)
    await net.settle()

    assert (await a.local("alice")).moved_to_uri == b.uri("alice2")
    carol = await b.local("carol")
    follow_of_new = await b.store.follows.get(carol.id, alice2.id)
    assert follow_of_new is not None, await b.inbox_log()
    assert follow_of_new.state == "accepted", await b.inbox_log()
    moved = await b.account(a.uri("alice"))
    assert moved is not None
    assert moved.moved_to_uri == b.uri("alice2")
    assert await b.notification_kinds("carol") == ["move"]
    # Like Mastodon's MoveWorker, local follows move without a request or notification.
    assert await b.store.follows.follower_ids_of(alice2.id) == [carol.id]
    assert alice_on_b.id == moved.id


async def test_move_to_an_account_that_does_not_list_the_old_one_changes_nothing(
    net: Network,
) -> None:
    a, b = net["a"], net["b"]
    await b.user("carol")
    await b.user("mallory")
    await follow(net, ("b", "carol"), ("a", "alice"))
    mallory_on_a = await a.resolve("mallory@b.test")
    alice = await a.local("alice")
    # The local check refuses; a forged Move (sent as if it passed) is refused by b.test.
    with pytest.raises(Exception, match="alsoKnownAs"):
        await a.outbox.move(alice, mallory_on_a)
    await a.outbox.move(alice, replace(mallory_on_a, also_known_as=(a.uri("alice"),)))
    await net.settle()

    carol, mallory = await b.local("carol"), await b.local("mallory")
    assert await b.store.follows.get(carol.id, mallory.id) is None
    assert await b.inbox_log() == [
        ("Accept", "done", None),
        ("Move", "ignored", "Move to an account that does not list the old one in alsoKnownAs"),
    ]


# -- visibility -----------------------------------------------------------------------------


async def test_followers_only_post_reaches_followers_and_not_others(net: Network) -> None:
    a, b = net["a"], net["b"]
    await a.user("dave")  # on the same instance as alice, not a follower
    await follow(net, ("a", "alice"), ("b", "bob"))

    private = await posted(b, "bob", "followers only", visibility="private")
    await net.settle()

    uri = b.status_uri("bob", private)
    on_a = await a.status(uri)
    assert on_a is not None
    assert on_a.visibility == "private"
    assert [s.uri for s in await a.home("alice")] == [uri]
    assert await a.home("dave") == []


async def test_direct_post_reaches_only_the_mentioned_account(net: Network) -> None:
    a, b = net["a"], net["b"]
    await a.user("dave")
    await follow(net, ("a", "dave"), ("b", "bob"))  # a follower who is not mentioned
    alice_on_b = await b.resolve("alice@a.test")

    direct = await posted(
        b, "bob", "@alice@a.test just between us", visibility="direct", mentions=[alice_on_b]
    )
    await net.settle()

    uri = b.status_uri("bob", direct)
    on_a = await a.status(uri)
    assert on_a is not None, await a.inbox_log()
    assert on_a.visibility == "direct", await a.inbox_log()
    assert [s.uri for s in await a.home("alice")] == [uri]
    assert await a.home("dave") == []
    [mention] = await a.notifications("alice")
    assert (mention.type, mention.status_id) == ("mention", on_a.id)
    assert await a.notification_kinds("dave") == []
    # One delivery to a.test; its shared inbox routes it by addressing, to alice only.
    sent = [d for d in await b.delivery_log() if d[0].endswith(f"/{direct.id}/activity")]
    assert [(inbox, state) for _, inbox, state in sent] == [("http://a.test/inbox", "delivered")]
