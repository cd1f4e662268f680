"""Creates stored together (inbox/batch.py) end exactly as processing them one at a time.

The same activities go to two instances: one processes each as it arrives, the other
receives them all and then processes them in one round (runs of Creates stored
together, the rest one by one, in order). Everything processing writes must be the same:
the items' outcomes, statuses and their replies, mentions, tags, home feeds,
notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from fedserver.appkeys import outbox_key, remote_actors_key
from fedserver.ids import utc_now
from tests.conftest import Client, FrozenClock, MakeConfig, StartApp
from tests.fakes.delivery import add_user
from tests.fakes.exchange import LOCAL, Exchange
from tests.fakes.remote import AS_PUBLIC, MASTODON
from tests.fakes.resolver import FakeResolver
from tests.fakes.scripted import ScriptedPeer, start_scripted_peer

pytestmark = pytest.mark.usefixtures("fast_accounts")

ALICE = f"{LOCAL}/users/alice"
DAVE = f"{LOCAL}/users/dave"
BOB = "http://peer.test/users/bob"
CAROL = "http://peer.test/users/carol"


def note(author: str, serial: str, **fields: Any) -> dict[str, Any]:
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


def mention(uri: str) -> dict[str, Any]:
    return {"type": "Mention", "href": uri, "name": "@" + uri.rsplit("/", 1)[-1]}


def activities(peer: ScriptedPeer, alices_status: str) -> list[dict[str, Any]]:
    """Creates that exercise every rule of `store_note`, with a Delete in between."""

    def create(name: str, obj: dict[str, Any]) -> dict[str, Any]:
        return peer.activity(name, "Create", obj, to=obj.get("to"), cc=obj.get("cc"))

    first = note(BOB, "1", cc=[f"{BOB}/followers", ALICE], tag=[mention(ALICE)])
    return [
        create("bob", first),
        # A reply to the note just before it, in the same run.
        create(
            "bob", note(BOB, "2", inReplyTo=first["id"], tag=[{"type": "Hashtag", "name": "#x"}])
        ),
        # dave blocks carol: a Create that involves dave is refused whole.
        create("carol", note(CAROL, "3", cc=[DAVE], tag=[mention(DAVE)])),
        # The same note again (a redelivery under another activity id): nothing new.
        create("bob", first),
        # carol's Create of an id that bob's note already holds (same host): refused.
        create("carol", {**note(CAROL, "4"), "id": first["id"]}),
        # Direct to alice: her feed and a notification, nobody else's feed.
        create("bob", note(BOB, "5", to=[ALICE], cc=[], tag=[mention(ALICE)])),
        # A reply to alice's own (local) status.
        create("carol", note(CAROL, "6", inReplyTo=alices_status, cc=[ALICE])),
        # Delete before Create: the late Create is ignored.
        peer.activity("bob", "Delete", f"{BOB}/statuses/7", to=[AS_PUBLIC]),
        create("bob", note(BOB, "7")),
        # A reply to a note nobody has: fetched (404 here), which ends a run.
        create("carol", note(CAROL, "8", inReplyTo=f"{BOB}/statuses/404")),
        create("bob", note(BOB, "9", inReplyTo=f"{CAROL}/statuses/8", tag=[mention(DAVE)])),
    ]


async def scenario(client: Client, peer: ScriptedPeer, *, together: bool) -> dict[str, Any]:
    local = Exchange(client)
    app = client.app
    alice = (await add_user(client, "alice")).account
    dave = (await add_user(client, "dave")).account
    bob = await app[remote_actors_key].get(BOB)
    carol = await app[remote_actors_key].get(CAROL)
    async with local.store.db.transaction() as tx:
        await local.store.follows.add(
            tx,
            follow_id=1,
            account_id=alice.id,
            target_account_id=bob.id,
            uri=None,
            state="accepted",
            now=utc_now(),
        )
        await local.store.blocks.add(
            tx, block_id=2, account_id=dave.id, target_account_id=carol.id, uri=None, now=utc_now()
        )
    status = await app[outbox_key].post(alice, "hello")
    await local.process()
    for activity in activities(peer, f"{ALICE}/statuses/{status.id}"):
        assert await local.send(peer, activity, path="/inbox") == 202
        if not together:
            await local.process()
    await local.process()
    return await snapshot(local)


async def snapshot(local: Exchange) -> dict[str, Any]:
    """What processing wrote, with local status ids replaced by stable names."""
    db = local.store.db

    async def rows(sql: str) -> list[tuple[Any, ...]]:
        return sorted(tuple(row) for row in await db.fetch_all(sql))

    name = "coalesce(s.uri, 'local:' || s.content)"
    return {
        "inbox": await local.inbox_log(),
        "statuses": await rows(
            f"SELECT {name}, a.username, s.visibility, s.in_reply_to_uri IS NOT NULL,"
            " (SELECT coalesce(p.uri, 'local:' || p.content) FROM statuses p"
            "  WHERE p.id = s.in_reply_to_id), s.in_reply_to_account_id IS NOT NULL,"
            " s.content FROM statuses s JOIN accounts a ON a.id = s.account_id"
        ),
        "mentions": await rows(
            f"SELECT {name}, a.username FROM mentions m JOIN statuses s ON s.id = m.status_id"
            " JOIN accounts a ON a.id = m.account_id"
        ),
        "tags": await rows(
            f"SELECT {name}, t.name FROM status_tags st JOIN statuses s ON s.id = st.status_id"
            " JOIN tags t ON t.id = st.tag_id"
        ),
        "feeds": await rows(
            f"SELECT a.username, {name} FROM home_feed h JOIN statuses s ON s.id = h.status_id"
            " JOIN accounts a ON a.id = h.account_id"
        ),
        "notifications": await rows(
            f"SELECT a.username, n.type, f.username, {name} FROM notifications n"
            " JOIN accounts a ON a.id = n.account_id JOIN accounts f ON f.id = n.from_account_id"
            " LEFT JOIN statuses s ON s.id = n.status_id"
        ),
    }


async def test_creates_processed_together_end_as_one_at_a_time(
    make_config: MakeConfig,
    start_app: StartApp,
    aiohttp_server: AiohttpServer,
    resolver: FakeResolver,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    peer = await start_scripted_peer(
        aiohttp_server, resolver, clock, "peer.test", MASTODON, "bob", "carol"
    )
    one_by_one = await scenario(await start_app(make_config()), peer, together=False)
    second = make_config(database={"path": str(tmp_path / "second.sqlite3")})
    together = await scenario(await start_app(second), peer, together=True)

    assert together == one_by_one
    # And the scenario means what it says.
    log = [(state, error) for kind, state, error in together["inbox"] if kind == "Create"]
    assert [state for state, _ in log] == [
        "done", "done", "ignored", "done", "ignored", "done", "done", "ignored", "done", "done",
    ]  # fmt: skip
    statuses = {row[0]: row for row in together["statuses"]}
    assert statuses[f"{BOB}/statuses/2"][4] == f"{BOB}/statuses/1"
    assert statuses[f"{CAROL}/statuses/6"][4] == "local:<p>hello</p>"
    assert statuses[f"{BOB}/statuses/9"][4] == f"{CAROL}/statuses/8"
    assert statuses[f"{BOB}/statuses/5"][2] == "direct"
    assert f"{CAROL}/statuses/3" not in statuses
    assert ("alice", "mention", "bob", f"{BOB}/statuses/5") in together["notifications"]
    assert ("dave", "mention", "bob", f"{BOB}/statuses/9") in together["notifications"]
    assert ("alice", f"{BOB}/statuses/2") in together["feeds"]


async def test_many_creates_from_two_actors_are_all_stored_with_feeds_and_notifications(
    app_client: Client, aiohttp_server: AiohttpServer, resolver: FakeResolver, clock: FrozenClock
) -> None:
    """Forty Creates from two actors in one round are all stored, each with its feed
    row and notification (they arrive while the worker runs: several runs)."""
    peer = await start_scripted_peer(
        aiohttp_server, resolver, clock, "peer.test", MASTODON, "bob", "carol"
    )
    local = Exchange(app_client)
    await add_user(app_client, "alice")
    for serial in range(40):
        name, author = ("bob", BOB) if serial % 2 else ("carol", CAROL)
        obj = note(author, f"n{serial}", cc=[ALICE], tag=[mention(ALICE)])
        activity = peer.activity(name, "Create", obj, to=obj["to"], cc=obj["cc"])
        assert await local.send(peer, activity, path="/inbox") == 202

    await local.process()

    snap = await snapshot(local)
    assert [state for _, state, _ in snap["inbox"]] == ["done"] * 40
    assert len(snap["statuses"]) == 40
    assert len(snap["notifications"]) == 40
    assert len(snap["feeds"]) == 40


async def test_concurrent_enqueues_share_a_statement_and_keep_their_answers(
    app_client: Client, clock: FrozenClock
) -> None:
    """Received at once, written together (group commit): each caller still learns
    whether its own activity was new, duplicates within the group included."""
    store = Exchange(app_client).store

    async def enqueue(item_id: int, activity_id: str) -> bool:
        return await store.inbox.enqueue(
            item_id=item_id,
            activity_id=activity_id,
            activity_type="Create",
            actor_uri=BOB,
            key_id=BOB + "#main-key",
            recipient_account_id=None,
            body="{}",
            now=clock(),
        )

    assert await enqueue(1, f"{BOB}/activities/0")
    answers = await asyncio.gather(
        *(enqueue(10 + n, f"{BOB}/activities/{n % 5}") for n in range(12))
    )

    # Activity 0 was stored before; 1-4 each once, by the first of their callers.
    assert answers == [False, True, True, True, True] + [False] * 7
    assert await store.inbox.count() == 5


async def test_parsed_envelopes_kept_for_the_worker_stay_bounded(app_client: Client) -> None:
    """Envelopes handed over by the view for items the worker had already taken are never
    popped by it: the oldest make room, so the newest are always kept."""
    from fedserver.appkeys import inbox_worker_key
    from inbox.parse import Envelope
    from inbox.worker import MAX_PARSED

    worker = app_client.app[inbox_worker_key]
    for item_id in range(MAX_PARSED + 100):
        envelope = Envelope(
            id=f"https://a.example/{item_id}", type="Like", actor="https://a.example/u", document={}
        )
        worker.received(item_id, envelope)
    parsed = worker._parsed
    assert len(parsed) == MAX_PARSED
    assert MAX_PARSED + 99 in parsed
    assert 0 not in parsed


async def test_the_worker_stops_when_cancelled_just_as_it_is_woken(app_client: Client) -> None:
    """A server stopping as an activity arrives: the cancel must not be lost in the
    wake-up (Python 3.11's wait_for could swallow it, and the shutdown waited forever)."""
    from fedserver.appkeys import inbox_worker_key

    worker = app_client.app[inbox_worker_key]
    for _ in range(20):
        task = asyncio.create_task(worker.run_forever())
        await asyncio.sleep(0.01)  # idle, waiting to be woken
        worker.wake()
        task.cancel()
        async with asyncio.timeout(5):  # a lost cancel would loop forever
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert task.cancelled()
