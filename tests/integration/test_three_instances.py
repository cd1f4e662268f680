"""Three fedserver instances: audiences that span hosts, objects fetched from their origin
by a third party, and a Move whose followers live on a third instance.

alice is on a.test, bob on b.test, carol and dave on c.test.
"""

from __future__ import annotations

import pytest

from fedserver.db import AccountRow, StatusRow
from tests.integration.conftest import Instance, Network, StartNetwork


@pytest.fixture
async def net(instances: StartNetwork) -> Network:
    network = await instances("a", "b", "c")
    await network["a"].user("alice")
    await network["b"].user("bob")
    await network["c"].user("carol")
    await network["c"].user("dave")
    return network


async def follow(net: Network, follower: tuple[str, str], target: tuple[str, str]) -> AccountRow:
    (side, name), (other, target_name) = follower, target
    here = net[side]
    remote = await here.resolve(f"{target_name}@{net[other].domain}")
    assert await here.outbox.follow(await here.local(name), remote) == "pending"
    await net.settle()
    found = await here.store.follows.get((await here.local(name)).id, remote.id)
    assert found is not None, await here.inbox_log()
    assert found.state == "accepted", await here.inbox_log()
    return remote


async def delivered_hosts(instance: Instance, status: StatusRow) -> list[str]:
    """The inboxes the Create of a local status was delivered to."""
    suffix = f"/statuses/{status.id}/activity"
    return sorted(
        inbox for activity, inbox, _ in await instance.delivery_log() if activity.endswith(suffix)
    )


async def test_followers_only_post_reaches_followers_on_two_hosts_and_nobody_else(
    net: Network,
) -> None:
    a, b, c = net["a"], net["b"], net["c"]
    await follow(net, ("a", "alice"), ("b", "bob"))
    await follow(net, ("c", "carol"), ("b", "bob"))

    private = await b.outbox.post(await b.local("bob"), "followers only", visibility="private")
    await net.settle()

    uri = b.status_uri("bob", private)
    assert await delivered_hosts(b, private) == ["http://a.test/inbox", "http://c.test/inbox"]
    for instance, reader in ((a, "alice"), (c, "carol")):
        copy = await instance.status(uri)
        assert copy is not None, instance.name
        assert copy.visibility == "private", instance.name
        assert [s.uri for s in await instance.home(reader)] == [uri], instance.name
    assert await c.home("dave") == []  # same host as a follower, not a follower


async def test_direct_post_goes_only_to_the_mentioned_host(net: Network) -> None:
    a, b, c = net["a"], net["b"], net["c"]
    await follow(net, ("c", "carol"), ("b", "bob"))  # a follower, not mentioned
    alice_on_b = await b.resolve("alice@a.test")

    direct = await b.outbox.post(
        await b.local("bob"), "@alice@a.test psst", visibility="direct", mentions=[alice_on_b]
    )
    await net.settle()

    uri = b.status_uri("bob", direct)
    assert await delivered_hosts(b, direct) == ["http://a.test/inbox"]
    assert await a.status(uri) is not None
    assert await c.status(uri) is None
    assert await c.home("carol") == []


async def test_boost_by_a_third_party_fetches_the_original_from_its_origin(
    net: Network,
) -> None:
    """c.test never heard of bob: the Announce names bob's post by id, and c.test
    fetches it from b.test (not from a.test, which only boosted it)."""
    a, b, c = net["a"], net["b"], net["c"]
    await follow(net, ("a", "alice"), ("b", "bob"))
    await follow(net, ("c", "carol"), ("a", "alice"))
    original = await b.outbox.post(await b.local("bob"), "worth sharing")
    await net.settle()
    on_a = await a.status(b.status_uri("bob", original))
    assert on_a is not None

    await a.outbox.reblog(await a.local("alice"), on_a)
    await net.settle()

    fetched = await c.status(b.status_uri("bob", original))
    assert fetched is not None, await c.inbox_log()
    bob_on_c = await c.account(b.uri("bob"))
    assert bob_on_c is not None
    assert fetched.account_id == bob_on_c.id
    alice_on_c = await c.account(a.uri("alice"))
    assert alice_on_c is not None
    reblog = await c.store.statuses.reblog_by(alice_on_c.id, fetched.id)
    assert reblog is not None
    assert [s.id for s in await c.home("carol")] == [reblog.id]
    alice_on_b = await b.account(a.uri("alice"))
    assert alice_on_b is not None
    assert "reblog" in await b.notification_kinds("bob")


async def test_reply_seen_by_a_third_party_brings_its_parent_from_the_origin(
    net: Network,
) -> None:
    a, b, c = net["a"], net["b"], net["c"]
    bob_on_a = await follow(net, ("a", "alice"), ("b", "bob"))
    await follow(net, ("c", "carol"), ("a", "alice"))
    parent = await b.outbox.post(await b.local("bob"), "a question")
    await net.settle()
    parent_on_a = await a.status(b.status_uri("bob", parent))
    assert parent_on_a is not None

    reply = await a.outbox.post(
        await a.local("alice"),
        "@bob@b.test an answer",
        in_reply_to=parent_on_a,
        mentions=[bob_on_a],
    )
    await net.settle()

    reply_on_c = await c.status(a.status_uri("alice", reply))
    parent_on_c = await c.status(b.status_uri("bob", parent))
    assert reply_on_c is not None, await c.inbox_log()
    assert parent_on_c is not None, await c.inbox_log()
    assert reply_on_c.in_reply_to_id == parent_on_c.id
    assert [s.id for s in await c.home("carol")] == [reply_on_c.id]  # not bob's parent
    reply_on_b = await b.status(a.status_uri("alice", reply))
    assert reply_on_b is not None
    assert reply_on_b.in_reply_to_id == parent.id


async def test_move_makes_remote_followers_follow_the_new_account(net: Network) -> None:
    """alice@a moves to alice2@b; carol@c followed alice, so c.test sends a Follow of
    alice2 to b.test and it becomes accepted by b.test's own Accept."""
    a, b, c = net["a"], net["b"], net["c"]
    await b.user("alice2")
    await follow(net, ("c", "carol"), ("a", "alice"))
    alice2 = await b.local("alice2")
    await b.store.accounts.update_profile(
        alice2.id,
        also_known_as=[a.uri("alice")],
        now=net.clock(),
    )
    alice2_on_a = await a.resolve("alice2@b.test")

    await a.outbox.move(await a.local("alice"), alice2_on_a)
    await net.settle()

    carol = await c.local("carol")
    alice2_on_c = await c.account(b.uri("alice2"))
    assert alice2_on_c is not None, await c.inbox_log()
    moved = await c.store.follows.get(carol.id, alice2_on_c.id)
    assert moved is not None, await c.inbox_log()
    assert moved.state == "accepted", await c.inbox_log()
    carol_on_b = await b.account(c.uri("carol"))
    assert carol_on_b is not None
    assert await b.store.follows.follower_ids_of(alice2.id) == [carol_on_b.id]
    assert await c.notification_kinds("carol") == ["move"]
    old = await c.account(a.uri("alice"))
    assert old is not None
    assert old.moved_to_uri == b.uri("alice2")
