"""The per-account counters of migration 0008 (account_stats, kept by triggers) always
equal a recount, whatever writes statuses and follows, and the migration fills them for
a database that already has data."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path

from fedserver.db import Store
from fedserver.db.database import load_migrations, split_statements

RECOUNT = """
SELECT a.id,
       (SELECT count(*) FROM statuses s WHERE s.account_id = a.id AND s.deleted_at IS NULL),
       (SELECT count(*) FROM follows f WHERE f.target_account_id = a.id
            AND f.state = 'accepted'),
       (SELECT count(*) FROM follows f WHERE f.account_id = a.id AND f.state = 'accepted'),
       (SELECT max(created_at) FROM statuses s WHERE s.account_id = a.id
            AND s.deleted_at IS NULL)
FROM accounts a ORDER BY a.id
"""

COUNTERS = """
SELECT a.id, coalesce(st.statuses_count, 0), coalesce(st.followers_count, 0),
       coalesce(st.following_count, 0), st.last_status_at
FROM accounts a LEFT JOIN account_stats st ON st.account_id = a.id ORDER BY a.id
"""


def migrate(db: sqlite3.Connection, upto: int) -> None:
    for migration in load_migrations()[:upto]:
        for statement in split_statements(migration.sql):
            db.execute(statement)
    db.commit()


def add_account(db: sqlite3.Connection, account_id: int) -> None:
    db.execute(
        "INSERT INTO accounts (id, username, domain, uri, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            account_id,
            f"u{account_id}",
            "example.org",
            f"https://example.org/u/{account_id}",
            "2026-01-01T00:00:00.000000+00:00",
            "2026-01-01T00:00:00.000000+00:00",
        ),
    )


def random_writes(
    db: sqlite3.Connection, rng: random.Random, accounts: list[int], steps: int, first_id: int
) -> None:
    """Inserts, soft and hard deletes of statuses and boosts; follows requested, accepted,
    undone; each step in its own transaction, as the server writes them."""
    next_id = first_id
    for _ in range(steps):
        next_id += 1
        action = rng.randrange(8)
        statuses = [r[0] for r in db.execute("SELECT id FROM statuses")]
        if action <= 2 or not statuses:
            author = rng.choice(accounts)
            boost = rng.choice(statuses) if statuses and action == 2 else None
            db.execute(
                "INSERT INTO statuses (id, account_id, uri, visibility, reblog_of_id, created_at)"
                " VALUES (?, ?, ?, 'public', ?, ?) ON CONFLICT DO NOTHING",
                (
                    next_id,
                    author,
                    f"https://example.org/s/{next_id}",
                    boost,
                    f"2026-01-{rng.randrange(1, 29):02d}T00:00:00.000000+00:00",
                ),
            )
        elif action == 3:
            db.execute(
                "UPDATE statuses SET deleted_at = '2026-02-01T00:00:00+00:00' WHERE id = ?",
                (rng.choice(statuses),),
            )
        elif action == 4:
            # Boosts of it go with it (ON DELETE CASCADE): their counters too.
            db.execute("DELETE FROM statuses WHERE id = ?", (rng.choice(statuses),))
        elif action == 5:
            follower, target = rng.sample(accounts, 2)
            db.execute(
                "INSERT INTO follows (id, account_id, target_account_id, state, created_at)"
                " VALUES (?, ?, ?, ?, '2026-01-01') ON CONFLICT DO NOTHING",
                (next_id, follower, target, rng.choice(["pending", "accepted"])),
            )
        elif action == 6:
            db.execute(
                "UPDATE follows SET state = ? WHERE id IN"
                " (SELECT id FROM follows ORDER BY random() LIMIT 1)",
                (rng.choice(["pending", "accepted"]),),
            )
        else:
            db.execute(
                "DELETE FROM follows WHERE id IN (SELECT id FROM follows ORDER BY random() LIMIT 1)"
            )
        db.commit()


def test_counters_equal_a_recount_after_every_kind_of_write(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "stats.sqlite3")
    db.execute("PRAGMA foreign_keys = ON")
    migrate(db, upto=len(load_migrations()))
    accounts = list(range(1, 7))
    for account_id in accounts:
        add_account(db, account_id)
    db.commit()
    rng = random.Random(8)
    for round_ in range(10):
        random_writes(db, rng, accounts, steps=60, first_id=1000 * (round_ + 1))
        assert db.execute(COUNTERS).fetchall() == db.execute(RECOUNT).fetchall()
    # An account deleted outright takes its statuses and follows with it (cascades):
    # the others' follower and following counts drop with them.
    db.execute("DELETE FROM accounts WHERE id = 1")
    db.commit()
    assert db.execute(COUNTERS).fetchall() == db.execute(RECOUNT).fetchall()
    assert db.execute("SELECT count(*) FROM account_stats WHERE account_id = 1").fetchone() == (0,)


def test_migration_fills_the_counters_of_existing_data(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA foreign_keys = ON")
    before = next(m.version for m in load_migrations() if m.name.startswith("0008")) - 1
    migrate(db, upto=before)
    db.execute(f"PRAGMA user_version = {before}")
    accounts = list(range(1, 5))
    for account_id in accounts:
        add_account(db, account_id)
    random_writes(db, random.Random(3), accounts, steps=120, first_id=1000)
    expected = db.execute(RECOUNT).fetchall()
    assert any(row[1] for row in expected)
    assert any(row[2] for row in expected)
    db.close()

    async def upgrade() -> None:
        store = await Store.open(path)
        try:
            assert [name for name in await store.migrate() if name.startswith("0008")]
            counts = await store.accounts.counts_for([a for a in accounts])
            for account_id, statuses, followers, following, last in expected:
                got = counts[account_id]
                assert got[:3] == (statuses, followers, following)
                assert (got[3] is None) == (last is None)
                assert await store.statuses.count_by_account(account_id) == statuses
                assert await store.follows.count_followers(account_id) == followers
        finally:
            await store.close()

    asyncio.run(upgrade())
