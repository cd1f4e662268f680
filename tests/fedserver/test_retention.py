"""Retention: finished queue rows are deleted after their window, in batches; pending work,
recent rows and the inbox's replay guard stay. Real SQLite files, a frozen clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import fedserver.cli
from fedserver.app import retention_policy
from fedserver.appkeys import inbox_worker_key, retention_key, store_key
from fedserver.cli import main
from fedserver.config import ConfigError, parse_config
from fedserver.db import RetentionPolicy, Store
from fedserver.db.deliveries import AttemptResult
from fedserver.db.retention import (
    DELIVERED,
    FAILED,
    IDEMPOTENCY_KEYS,
    INBOX_DEAD,
    INBOX_PROCESSED,
    OAUTH_CODES,
    OUTGOING,
    REPLAY_GUARD,
)
from fedserver.ids import Clock, IdGenerator
from fedserver.signatures.timing import CLOCK_SKEW, MAX_VALIDITY
from tests.conftest import (
    Client,
    CreateUser,
    FrozenClock,
    MakeConfig,
    Rows,
    StartApp,
    StartPeer,
)
from tests.fakes.remote import MASTODON

INBOX = "http://local.test/users/alice/inbox"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated database in a real file."""
    opened = await Store.open(tmp_path / "retention.sqlite3")
    await opened.migrate()
    yield opened
    await opened.close()


async def queue(store: Store, clock: Clock, activity_id: str, *inboxes: str) -> dict[str, int]:
    """Queue an activity at clock() for `inboxes`; returns {inbox: delivery id}."""
    await store.deliveries.enqueue_now(
        activity_id=activity_id,
        sender_account_id=None,
        body=json.dumps({"id": activity_id}),
        inboxes=inboxes,
        status_id=None,
        now=clock(),
        new_id=IdGenerator(clock),
    )
    return {r.inbox_url: r.id for r in await store.deliveries.for_activity(activity_id)}


async def states(store: Store, activity_id: str) -> dict[str, str]:
    return {r.inbox_url: r.state for r in await store.deliveries.for_activity(activity_id)}


async def outgoing_ids(store: Store) -> set[str]:
    rows = await store.db.fetch_all("SELECT activity_id FROM outgoing_activities")
    return {row[0] for row in rows}


def finish(delivery_id: int, state: str) -> AttemptResult:
    if state == "delivered":
        return AttemptResult(delivery_id, "delivered", 202)
    return AttemptResult(delivery_id, "failed", 410, reason="410 gone")


# -- deliveries --------------------------------------------------------------------------


async def test_old_finished_deliveries_go_recent_and_pending_ones_stay(
    store: Store, clock: FrozenClock
) -> None:
    a = await queue(store, clock, "https://l/a", "https://x/inbox", "https://y/inbox", "https://z/")
    b = await queue(store, clock, "https://l/b", "https://x/inbox")
    await store.deliveries.record_attempts(
        [
            finish(a["https://x/inbox"], "delivered"),
            finish(a["https://y/inbox"], "failed"),
            finish(b["https://x/inbox"], "delivered"),
        ],
        clock(),
    )  # a's https://z/ stays pending (its host is down, say)
    clock.advance(days=6)
    c = await queue(store, clock, "https://l/c", "https://x/inbox")
    await store.deliveries.mark_delivered(c["https://x/inbox"], status=202, now=clock())
    clock.advance(days=2)  # a and b finished 8 days ago, c 2 days ago

    report = await store.retention.prune(RetentionPolicy(), clock())

    assert await states(store, "https://l/a") == {
        "https://y/inbox": "failed",  # kept 30 days
        "https://z/": "pending",
    }
    assert await states(store, "https://l/b") == {}
    assert await states(store, "https://l/c") == {"https://x/inbox": "delivered"}
    # b's activity went with its last delivery; a's is still needed.
    assert await outgoing_ids(store) == {"https://l/a", "https://l/c"}
    assert report.deleted[DELIVERED] == 2
    assert report.deleted[OUTGOING] == 1
    assert report.total == 3

    clock.advance(days=23)  # the failure is 31 days old
    await store.retention.prune(RetentionPolicy(), clock())
    assert await states(store, "https://l/a") == {"https://z/": "pending"}
    assert await outgoing_ids(store) == {"https://l/a"}  # c aged out too

    await store.deliveries.mark_delivered(a["https://z/"], status=202, now=clock())
    clock.advance(days=7, seconds=1)
    await store.retention.prune(RetentionPolicy(), clock())
    assert await store.deliveries.count() == 0
    assert await outgoing_ids(store) == set()


async def test_skipped_deliveries_go_with_the_failed_ones(store: Store, clock: FrozenClock) -> None:
    ids = await queue(store, clock, "https://l/a", "https://down/inbox")
    await store.deliveries.mark_skipped(list(ids.values()), reason="host unavailable", now=clock())
    clock.advance(days=29)
    await store.retention.prune(RetentionPolicy(), clock())
    assert await states(store, "https://l/a") == {"https://down/inbox": "skipped"}
    clock.advance(days=2)
    report = await store.retention.prune(RetentionPolicy(), clock())
    assert report.deleted[FAILED] == 1
    assert await store.deliveries.count() == 0


async def test_an_activity_sent_to_nobody_goes_after_the_window(
    store: Store, clock: FrozenClock
) -> None:
    await queue(store, clock, "https://l/lonely")  # no followers: no delivery rows
    clock.advance(days=3)
    await queue(store, clock, "https://l/later")
    clock.advance(days=5)

    report = await store.retention.prune(RetentionPolicy(), clock())

    assert report.deleted[OUTGOING] == 1
    assert await outgoing_ids(store) == {"https://l/later"}


async def test_zero_days_keeps_rows_forever(store: Store, clock: FrozenClock) -> None:
    ids = await queue(store, clock, "https://l/a", "https://x/inbox")
    await store.deliveries.mark_delivered(ids["https://x/inbox"], status=202, now=clock())
    clock.advance(days=3650)
    policy = RetentionPolicy(delivered=None, failed=None)
    assert (await store.retention.prune(policy, clock())).total == 0
    assert await store.deliveries.count() == 1


async def test_batches_are_bounded_and_report_progress(store: Store, clock: FrozenClock) -> None:
    inboxes = [f"https://h{n}.test/inbox" for n in range(7)]
    ids = await queue(store, clock, "https://l/a", *inboxes)
    await store.deliveries.record_attempts([finish(i, "delivered") for i in ids.values()], clock())
    clock.advance(days=8)
    seen: list[tuple[str, int]] = []

    report = await store.retention.prune(
        RetentionPolicy(batch_size=3), clock(), lambda step, n: seen.append((step, n))
    )

    assert seen[:3] == [(DELIVERED, 3), (DELIVERED, 6), (DELIVERED, 7)]
    assert report.deleted[DELIVERED] == 7
    assert report.batches >= 3
    assert await store.deliveries.count() == 0


# -- the inbox ---------------------------------------------------------------------------


async def receive(store: Store, clock: Clock, activity_id: str) -> int:
    item_id = IdGenerator(clock)()
    assert await store.inbox.enqueue(
        item_id=item_id,
        activity_id=activity_id,
        activity_type="Like",
        actor_uri="https://remote.test/users/bob",
        key_id="https://remote.test/users/bob#main-key",
        recipient_account_id=None,
        body="{}",
        now=clock(),
    )
    return item_id


async def inbox_states(store: Store) -> dict[str, str]:
    return {item.activity_id: item.state for item in await store.inbox.items(limit=1000)}


async def test_old_processed_inbox_items_go_pending_and_dead_ones_stay(
    store: Store, clock: FrozenClock
) -> None:
    done = await receive(store, clock, "https://r/done")
    ignored = await receive(store, clock, "https://r/ignored")
    dead = await receive(store, clock, "https://r/dead")
    retried = await receive(store, clock, "https://r/retried")
    await receive(store, clock, "https://r/pending")
    await store.inbox.finish_many(
        [(done, "done", None), (ignored, "ignored", "not for us"), (dead, "failed", "boom")]
    )
    await store.inbox.retry_later(retried, at=clock() + timedelta(days=2), error="timeout")
    clock.advance(days=1)
    await receive(store, clock, "https://r/recent")
    clock.advance(days=6, seconds=1)

    report = await store.retention.prune(RetentionPolicy(), clock())

    assert await inbox_states(store) == {
        "https://r/dead": "failed",
        "https://r/retried": "pending",
        "https://r/pending": "pending",
        "https://r/recent": "pending",
    }
    assert report.deleted[INBOX_PROCESSED] == 2
    clock.advance(days=23)
    report = await store.retention.prune(RetentionPolicy(), clock())
    assert report.deleted[INBOX_DEAD] == 1
    assert "https://r/dead" not in await inbox_states(store)


async def test_no_inbox_item_younger_than_the_replay_guard_is_deleted(
    store: Store, clock: FrozenClock
) -> None:
    """The row refuses a redelivered activity id, and must outlive any signature that
    could carry the same request again."""
    assert REPLAY_GUARD >= MAX_VALIDITY + 2 * CLOCK_SKEW
    with pytest.raises(ValueError, match="inbox_processed"):
        RetentionPolicy(inbox_processed=timedelta(hours=13))
    item = await receive(store, clock, "https://r/a")
    await store.inbox.finish(item, state="done", note=None)
    shortest = RetentionPolicy(inbox_processed=REPLAY_GUARD)

    clock.advance(hours=23)
    assert (await store.retention.prune(shortest, clock())).deleted[INBOX_PROCESSED] == 0
    clock.advance(hours=1, seconds=1)
    assert (await store.retention.prune(shortest, clock())).deleted[INBOX_PROCESSED] == 1


async def test_a_replay_of_a_pruned_activity_is_still_refused(
    app_client: Client,
    make_user: CreateUser,
    start_peer: StartPeer,
    clock: FrozenClock,
) -> None:
    """Before the prune the stored id makes a replay a no-op; after it, the request's
    signature is long expired, so the replay is refused before the inbox."""
    await make_user("alice")
    peer = await start_peer("mastodon.test", MASTODON, "bob")
    body = json.dumps(peer.activity("bob", "Follow", "http://local.test/users/alice")).encode()
    headers = peer.signed_headers("POST", INBOX, body, name="bob")
    app = app_client.app
    store = app[store_key]
    assert (await app_client.post("/users/alice/inbox", data=body, headers=headers)).status == 202
    await app[inbox_worker_key].run_once()
    assert [item.state for item in await store.inbox.items()] == ["done"]

    clock.advance(hours=1)
    replay = await app_client.post("/users/alice/inbox", data=body, headers=headers)
    assert replay.status == 202
    assert await store.inbox.count() == 1  # deduplicated, not stored twice

    clock.advance(days=7)
    report = await app[retention_key].run_once()
    assert report.deleted[INBOX_PROCESSED] == 1
    assert await store.inbox.count() == 0

    replay = await app_client.post("/users/alice/inbox", data=body, headers=headers)
    assert replay.status == 401
    assert (await replay.json())["code"] == "invalid_signature"
    assert await store.inbox.count() == 0


# -- codes and idempotency keys ----------------------------------------------------------


async def test_expired_codes_and_stale_idempotency_keys_go(
    app_client: Client, make_user: CreateUser, rows: Rows, clock: FrozenClock
) -> None:
    alice = await make_user("alice")
    store = app_client.app[store_key]
    oauth_app = await store.oauth.create_app(
        app_id=1,
        name="app",
        website=None,
        redirect_uris=["urn:ietf:wg:oauth:2.0:oob"],
        scopes="read",
        client_id="client",
        client_secret="secret",
        now=clock(),
    )
    for code, minutes in (("old", 10), ("fresh", 60 * 24 * 7)):
        await store.oauth.create_code(
            code=code,
            app_id=oauth_app.id,
            user_id=alice.user.id,
            redirect_uri="urn:ietf:wg:oauth:2.0:oob",
            scopes="read",
            code_challenge=None,
            expires_at=clock() + timedelta(minutes=minutes),
        )
    status_id = await rows.status(alice.account.id)
    await store.idempotency.remember(alice.user.id, "old-key", status_id, clock())
    clock.advance(days=7, minutes=11)
    await store.idempotency.remember(alice.user.id, "new-key", status_id, clock())

    report = await app_client.app[retention_key].run_once()

    assert report.deleted[OAUTH_CODES] == 1
    assert report.deleted[IDEMPOTENCY_KEYS] == 1
    assert await store.oauth.consume_code("old", clock()) is None
    assert await store.oauth.consume_code("fresh", clock()) is not None
    since = clock() - timedelta(days=1)
    assert await store.idempotency.status_for(alice.user.id, "new-key", since) == status_id


# -- the server's task and the WAL -------------------------------------------------------


async def test_the_server_prunes_periodically_and_truncates_the_wal(
    make_config: MakeConfig, start_app: StartApp, clock: FrozenClock
) -> None:
    config = make_config(retention={"interval_minutes": 0.001})
    client = await start_app(config)
    store = client.app[store_key]
    ids = await queue(store, clock, "https://l/a", "https://x/inbox")
    await store.deliveries.mark_delivered(ids["https://x/inbox"], status=202, now=clock())
    clock.advance(days=8)

    for _ in range(500):  # waits for the task (60 ms apart), asserts nothing about time
        if await store.deliveries.count() == 0:
            break
        await asyncio.sleep(0.02)
    assert await store.deliveries.count() == 0
    assert await outgoing_ids(store) == set()
    wal = Path(f"{config.database.path}-wal")
    await queue(store, clock, "https://l/b", "https://x/inbox")
    assert (await asyncio.to_thread(wal.stat)).st_size > 0
    await client.app[retention_key].run_once()
    assert (await asyncio.to_thread(wal.stat)).st_size == 0


async def test_interval_zero_runs_no_task_but_keeps_the_pruner(
    make_config: MakeConfig, start_app: StartApp
) -> None:
    client = await start_app(make_config(retention={"interval_minutes": 0}))
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "retention"]
    assert (await client.app[retention_key].run_once()).total == 0


# -- config ------------------------------------------------------------------------------


def minimal(**retention: Any) -> dict[str, Any]:
    return {
        "instance": {"domain": "example.com"},
        "database": {"path": "/tmp/x.sqlite3"},
        "retention": retention,
    }


def test_config_defaults_map_to_the_policy() -> None:
    policy = retention_policy(parse_config(minimal()))
    assert policy == RetentionPolicy(
        delivered=timedelta(days=7),
        failed=timedelta(days=30),
        inbox_processed=timedelta(days=7),
        inbox_dead=timedelta(days=30),
        oauth_codes=timedelta(days=7),
        idempotency_keys=timedelta(hours=24),
        batch_size=1000,
    )
    kept = retention_policy(parse_config(minimal(delivered_days=0, inbox_dead_days=0)))
    assert kept.delivered is None
    assert kept.inbox_dead is None


def test_config_problems_name_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            minimal(
                delivered_days=-1,
                inbox_processed_days=0.5,
                batch_size=0,
                interval_minutes=-5,
                keep_forever=True,
            )
        )
    assert caught.value.problems == [
        "retention.interval_minutes: must be 0 (off) or more minutes",
        "retention.batch_size: must be 1 to 100000 rows",
        "retention.delivered_days: must be 0 (keep forever) or more days",
        "retention.inbox_processed_days: expected an integer, got float 0.5",
        "retention.keep_forever: unknown key",
    ]


# -- fedserver prune ---------------------------------------------------------------------


def test_prune_command_deletes_and_prints_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file = tmp_path / "fedserver.toml"
    config_file.write_text(
        '[instance]\ndomain = "cli.test"\n[database]\npath = "cli.sqlite3"\n'
        "[retention]\nbatch_size = 4\n"
    )
    monkeypatch.delenv("FEDSERVER_CONFIG", raising=False)
    monkeypatch.setattr(fedserver.cli, "PRUNE_PROGRESS_ROWS", 8)
    ten_days_ago = datetime.now(UTC) - timedelta(days=10)

    async def fill() -> None:
        store = await Store.open(tmp_path / "cli.sqlite3")
        try:
            await store.migrate()
            old = FrozenClock(ten_days_ago)
            inboxes = [f"https://h{n}.test/inbox" for n in range(20)]
            ids = await queue(store, old, "https://l/old", *inboxes, "https://down.test/")
            delivered = [finish(ids[inbox], "delivered") for inbox in inboxes]
            await store.deliveries.record_attempts(delivered, old())
        finally:
            await store.close()

    asyncio.run(fill())

    code = main(["--config", str(config_file), "prune"])

    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"pruning {tmp_path / 'cli.sqlite3'} (delivered 7d, failed 30d")
    assert f"  {DELIVERED}: 8 deleted so far" in lines
    assert f"  {DELIVERED}: 16 deleted so far" in lines
    assert f"  {DELIVERED}: 20 deleted" in lines
    assert f"  {OUTGOING}: 0 deleted" in lines  # one delivery is still pending
    assert any(line.startswith("deleted 20 rows in ") for line in lines)
    assert "write-ahead log truncated" in lines
