"""A page's visibility is decided at once (fedserver/api/visibility.py, `visible`).

The answer must be exactly what the per-status rule gave: `naive_can_see` keeps that
rule (as visibility.py had it before the batching), and a varied page (every visibility,
mentions, boosts of public, private, direct, deleted and vanished statuses, replies, an
author who blocks a viewer, accepted and pending follows) is checked both ways for
viewers of every kind, in a bounded number of queries whatever the page's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from fedserver.api.visibility import can_see, visible
from fedserver.db import AccountRow, StatusRow, Store
from fedserver.ids import isoformat
from tests.api.test_present_batch import Page, counting_trips
from tests.conftest import Client, CreateUser, Rows

#: Reads `visible` may make for a page of any size (below one `IN (...)` chunk): the
#: boosted originals (two rounds at most), the blockers, the mentions, the follows.
MAX_TRIPS = 5


async def naive_can_see(store: Store, viewer: AccountRow | None, status: StatusRow) -> bool:
    """The per-status rule `visible` replaced (one or two queries per status)."""
    if status.deleted_at is not None:
        return False
    if status.reblog_of_id is not None:
        original = await store.statuses.by_id(status.reblog_of_id)
        if original is None or not await naive_can_see(store, viewer, original):
            return False
    if viewer is not None and viewer.id == status.account_id:
        return True
    if viewer is not None and await store.blocks.is_blocked(status.account_id, viewer.id):
        return False
    if status.visibility in ("public", "unlisted"):
        return True
    if viewer is None:
        return False
    if viewer.id in await store.statuses.mentioned_account_ids(status.id):
        return True
    if status.visibility == "private":
        follow = await store.follows.get(viewer.id, status.account_id)
        return follow is not None and follow.state == "accepted"
    return False


async def naive_visible(
    store: Store, viewer: AccountRow | None, statuses: list[StatusRow]
) -> list[StatusRow]:
    return [s for s in statuses if await naive_can_see(store, viewer, s)]


@dataclass
class World:
    store: Store
    page: list[StatusRow]
    ids: dict[str, int]
    viewers: dict[str, AccountRow | None]
    authors: dict[str, int]

    def names(self, statuses: list[StatusRow]) -> set[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return {by_id[s.id] for s in statuses}


async def build(client: Client, make_user: CreateUser, rows: Rows) -> World:
    page = Page(client)
    store = page.store
    alice = (await make_user("alice")).account.id  # the author who blocks
    bob = (await make_user("bob")).account.id
    mia = (await make_user("mia")).account.id  # mentioned, follows no one
    carol = await rows.remote_account("carol", "remote.test")
    fran = await rows.remote_account("fran", "remote.test")  # accepted follower
    pete = await rows.remote_account("pete", "other.test")  # pending follower of alice
    bo = await rows.remote_account("bo", "other.test")  # blocked by alice
    sam = await rows.remote_account("sam", "remote.test")  # a stranger

    async with store.db.transaction() as tx:
        for follower, target, state in [
            (fran, alice, "accepted"),
            (fran, bob, "accepted"),
            (fran, carol, "accepted"),
            (pete, alice, "pending"),
            (pete, bob, "accepted"),
            (bo, alice, "accepted"),  # severed by the block below
            (bo, bob, "accepted"),
            (alice, bob, "accepted"),
            (carol, alice, "accepted"),
            (sam, carol, "pending"),
        ]:
            await store.follows.add(
                tx,
                follow_id=page.new_id(),
                account_id=follower,
                target_account_id=target,
                uri=None,
                state=state,
                now=page.moment,
            )
        # bo blocks carol: bo still sees carol's posts, carol does not see bo's.
        for blocker, blocked in [(alice, bo), (bo, carol)]:
            await store.blocks.add(
                tx,
                block_id=page.new_id(),
                account_id=blocker,
                target_account_id=blocked,
                uri=None,
                now=page.moment,
            )
            await store.follows.remove_between(tx, blocker, blocked)

    ids: dict[str, int] = {}

    async def post(name: str, author: int, visibility: str = "public", **fields: object) -> None:
        if author not in (alice, bob, mia):
            fields.setdefault("uri", f"https://remote.test/statuses/{name}")
        ids[name] = await page.status(author, visibility=visibility, **fields)

    await post("a_pub", alice)
    await post("a_unl", alice, "unlisted")
    await post("a_priv", alice, "private")
    await post("a_priv_mia", alice, "private", mention_account_ids=(mia,))
    await post("a_priv_bo", alice, "private", mention_account_ids=(bo,))
    await post("a_dir", alice, "direct", mention_account_ids=(mia, bo))
    await post("a_dir_alone", alice, "direct")
    await post("b_pub", bob, mention_account_ids=(alice,))
    await post("b_unl", bob, "unlisted")
    await post("b_priv", bob, "private", mention_account_ids=(alice,))
    await post("b_dir", bob, "direct", mention_account_ids=(fran,))
    await post("b_dir_sam", bob, "direct", mention_account_ids=(sam, pete))
    await post(
        "b_reply",
        bob,
        in_reply_to_id=ids["a_pub"],
        in_reply_to_account_id=alice,
        mention_account_ids=(alice,),
    )
    await post(
        "b_reply_priv",
        bob,
        "private",
        in_reply_to_id=ids["a_priv"],
        in_reply_to_account_id=alice,
        mention_account_ids=(alice,),
    )
    await post("c_pub", carol)
    await post("c_priv", carol, "private")
    await post("c_priv_pete", carol, "private", mention_account_ids=(pete,))
    await post("c_dir", carol, "direct", mention_account_ids=(mia,))
    await post("c_gone", carol)  # marked deleted below
    await post("c_removed", carol)  # deleted outright below
    await post("m_pub", mia)
    await post("m_priv", mia, "private")
    # Boosts (a boost row is public; what counts is what it boosts).
    await post("boost_a_pub", bob, reblog_of_id=ids["a_pub"], content="")
    await post("boost_a_priv", bob, reblog_of_id=ids["a_priv"], content="")
    await post("boost_a_dir", bob, reblog_of_id=ids["a_dir"], content="")
    await post("boost_b_priv", alice, reblog_of_id=ids["b_priv"], content="")  # by the blocker
    await post("boost_own_priv", alice, "private", reblog_of_id=ids["a_priv_mia"], content="")
    await post("boost_c_priv", fran, reblog_of_id=ids["c_priv"], content="")
    await post("boost_c_pub_by_bo", bo, reblog_of_id=ids["c_pub"], content="")
    await post("boost_c_gone", bob, reblog_of_id=ids["c_gone"], content="")
    await post("boost_c_removed", bob, reblog_of_id=ids["c_removed"], content="")

    stored = await store.statuses.by_ids(ids.values())
    # Marked deleted without `mark_deleted` (which would drop its boost too); the copy
    # read above is stale, as a page read just before would be.
    await page.execute(
        "UPDATE statuses SET deleted_at = ? WHERE id = ?", isoformat(page.moment), ids["c_gone"]
    )
    stored.update(await store.statuses.by_ids([ids["c_gone"]]))
    # Deleted outright: its boost cascades away, but the page read before still holds it.
    async with store.db.transaction() as tx:
        await store.statuses.delete(tx, ids["c_removed"])
    del stored[ids["c_removed"]]
    assert ids["boost_c_removed"] not in await store.statuses.by_ids([ids["boost_c_removed"]])

    statuses = [stored[i] for i in sorted(stored, reverse=True)]
    assert stored[ids["c_gone"]].deleted_at is not None
    accounts = await store.accounts.by_ids([alice, bob, mia, carol, fran, pete, bo, sam])
    viewers: dict[str, AccountRow | None] = {
        "anonymous": None,
        "author": accounts[alice],
        "other author": accounts[bob],
        "remote author": accounts[carol],
        "accepted follower": accounts[fran],
        "pending follower": accounts[pete],
        "mentioned": accounts[mia],
        "blocked": accounts[bo],
        "stranger": accounts[sam],
    }
    authors = {"alice": alice, "bob": bob, "carol": carol, "bo": bo}
    return World(store, statuses, ids, viewers, authors)


async def test_visible_agrees_with_the_per_status_rule(
    app_client: Client, make_user: CreateUser, rows: Rows
) -> None:
    world = await build(app_client, make_user, rows)
    store, page = world.store, world.page
    seen: dict[str, set[str]] = {}
    for kind, viewer in world.viewers.items():
        expected = await naive_visible(store, viewer, page)
        got = await visible(store, viewer, page)
        assert got == expected, (kind, world.names(got) ^ world.names(expected))
        # Non-trivial for every viewer: something shown, something hidden.
        assert 0 < len(expected) < len(page), kind
        # One status at a time, through the same code.
        for status in page:
            assert await can_see(store, viewer, status) == (status in expected), (
                kind,
                world.names([status]),
            )
        seen[kind] = world.names(got)

    never = {"c_gone", "boost_c_gone", "boost_c_removed"}
    assert all(not names & never for names in seen.values())
    assert seen["anonymous"] == {
        "a_pub",
        "a_unl",
        "b_pub",
        "b_unl",
        "b_reply",
        "c_pub",
        "m_pub",
        "boost_a_pub",
        "boost_c_pub_by_bo",
    }
    author = seen["author"]
    assert {"a_priv", "a_dir_alone", "a_dir", "a_priv_bo", "boost_own_priv"} <= author
    assert {"b_priv", "boost_b_priv", "b_reply_priv", "boost_a_dir"} <= author  # mentioned
    assert not {"b_dir", "c_priv", "boost_c_priv", "m_priv"} & author
    follower = seen["accepted follower"]
    assert {"a_priv", "b_priv", "c_priv", "boost_c_priv", "boost_a_priv", "b_dir"} <= follower
    assert "boost_own_priv" in follower  # a followers-only boost of a post it may see
    assert not {"a_dir", "m_priv"} & follower
    pending = seen["pending follower"]
    assert not {"a_priv", "a_priv_mia", "boost_a_priv", "boost_own_priv"} & pending
    assert {"b_priv", "b_reply_priv", "b_dir_sam", "c_priv_pete", "a_pub"} <= pending
    mentioned = seen["mentioned"]
    assert {"a_dir", "a_priv_mia", "c_dir", "m_priv", "boost_a_dir"} <= mentioned
    # Mentioned in the boosted post, not in the followers-only boost of it.
    assert not {"a_priv", "a_dir_alone", "b_dir", "boost_a_priv", "boost_own_priv"} & mentioned
    blocked = seen["blocked"]
    by_alice = {s.id for s in page if s.account_id == world.authors["alice"]}
    assert not any(world.ids[name] in by_alice for name in blocked)
    assert not {"boost_a_pub", "boost_a_dir"} & blocked  # boosts of the blocker's posts
    assert {"b_pub", "b_priv", "c_pub", "boost_c_pub_by_bo"} <= blocked  # blocks carol
    stranger = seen["stranger"]
    assert "b_dir_sam" in stranger  # a mentioned stranger sees the direct one
    assert not {"a_priv", "b_priv", "c_priv", "c_dir", "a_dir"} & stranger
    assert seen["remote author"] >= {"c_priv", "c_dir", "c_priv_pete", "a_priv", "boost_c_priv"}

    assert await visible(store, world.viewers["author"], []) == []


async def test_a_page_is_checked_in_a_bounded_number_of_queries(
    app_client: Client, make_user: CreateUser, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await build(app_client, make_user, rows)
    store, page = world.store, world.page
    filler = Page(app_client)
    extra = []
    for n in range(60):
        author = list(world.authors.values())[n % len(world.authors)]
        visibility = ("public", "private", "direct", "unlisted")[n % 4]
        extra.append(await filler.status(author, visibility=visibility))
    boosts = [
        await filler.status(world.authors["bob"], reblog_of_id=i, content="") for i in extra[:20]
    ]
    more = await store.statuses.by_ids([*extra, *boosts])
    big = page + [more[i] for i in [*extra, *boosts]]
    for kind, viewer in world.viewers.items():
        counts = []
        for statuses in (page[:1], page[:5], page, big):
            with counting_trips(monkeypatch) as naive_trips:
                expected = await naive_visible(store, viewer, statuses)
            with counting_trips(monkeypatch) as trips:
                got = await visible(store, viewer, statuses)
            assert got == expected, kind
            assert len(trips) <= MAX_TRIPS, (kind, len(statuses), trips)
            counts.append(len(trips))
            if statuses is big:
                assert len(naive_trips) > 5 * MAX_TRIPS, kind
        # The full page and one three times as long cost the same.
        assert counts[2] == counts[3], (kind, counts)
