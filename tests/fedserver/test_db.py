"""The SQLite data layer on real files: migrations, pragmas, transactions, users, ids."""

from __future__ import annotations

import asyncio
import itertools
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

import fedserver.migrations
from fedserver.db import Store
from fedserver.errors import Conflict
from fedserver.ids import IdGenerator, id_timestamp_ms, min_id_at
from fedserver.keypairs import GeneratedKeyPair, generate_keypairs
from fedserver.signatures import load_private_key, load_public_key
from tests.conftest import START, FrozenClock

MIGRATIONS_DIR = Path(fedserver.migrations.__file__).parent
MIGRATION_FILES = sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))
CREATED_TABLES = {
    name.lower()
    for path in MIGRATION_FILES
    for name in re.findall(
        r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", path.read_text(), re.IGNORECASE
    )
}


@pytest.fixture(scope="module")
def keypairs() -> list[GeneratedKeyPair]:
    """One RSA and one Ed25519 pair, generated once for the module (RSA is slow)."""
    return generate_keypairs()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated store on a fresh file, closed after the test."""
    store = await Store.open(tmp_path / "db" / "fed.sqlite3")
    try:
        await store.migrate()
        yield store
    finally:
        await store.close()


async def create_alice(
    store: Store, keypairs: list[GeneratedKeyPair], ids: IdGenerator, username: str = "alice"
) -> None:
    await store.accounts.create_local_user(
        account_id=ids(),
        user_id=ids(),
        username=username,
        email=f"{username}@example.com",
        password_hash="scrypt$test",
        is_admin=False,
        approved=True,
        keypairs=[(ids(), k.kind, k.private_key_pem, k.public_key_pem) for k in keypairs],
        now=START,
    )


async def table_names(store: Store) -> set[str]:
    rows = await store.db.fetch_all(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    return {row[0] for row in rows}


async def test_migrations_from_empty_create_every_table_and_set_user_version(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "fresh.sqlite3")
    try:
        assert await store.db.fetch_value("PRAGMA user_version") == 0
        assert await table_names(store) == set()

        applied = await store.migrate()

        assert applied == [path.name for path in MIGRATION_FILES]
        assert await store.db.fetch_value("PRAGMA user_version") == len(MIGRATION_FILES)
        tables = await table_names(store)
        assert {"accounts", "users", "keypairs", "follows", "statuses"} <= CREATED_TABLES
        assert tables >= CREATED_TABLES
    finally:
        await store.close()


async def test_migrating_twice_applies_nothing(store: Store) -> None:
    version = await store.db.fetch_value("PRAGMA user_version")
    assert await store.migrate() == []
    assert await store.db.fetch_value("PRAGMA user_version") == version


async def test_a_database_newer_than_the_code_is_refused(store: Store) -> None:
    async with store.db.transaction() as tx:
        await tx.execute(f"PRAGMA user_version = {len(MIGRATION_FILES) + 1:d}")
    with pytest.raises(RuntimeError, match="newer than this fedserver knows"):
        await store.migrate()


async def test_foreign_keys_and_wal_are_on(store: Store) -> None:
    assert await store.db.fetch_value("PRAGMA foreign_keys") == 1
    assert await store.db.fetch_value("PRAGMA journal_mode") == "wal"


async def test_foreign_keys_are_enforced_on_writes(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        async with store.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO users (id, account_id, password_hash, created_at, last_active_at)"
                " VALUES (1, 999, 'x', 'now', 'now')"
            )


async def test_a_transaction_that_raises_writes_nothing(store: Store) -> None:
    class Boom(Exception):
        pass

    async def write_then_fail() -> None:
        async with store.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO accounts (id, username, created_at, updated_at)"
                " VALUES (1, 'ghost', 'now', 'now')"
            )
            raise Boom

    with pytest.raises(Boom):
        await write_then_fail()

    assert await store.db.fetch_value("SELECT count(*) FROM accounts") == 0
    # The writer is usable again after the rollback.
    async with store.db.transaction() as tx:
        await tx.execute(
            "INSERT INTO accounts (id, username, created_at, updated_at)"
            " VALUES (1, 'ghost', 'now', 'now')"
        )
    assert await store.db.fetch_value("SELECT count(*) FROM accounts") == 1


async def test_create_local_user_stores_account_user_and_two_keypairs(
    store: Store, keypairs: list[GeneratedKeyPair]
) -> None:
    await create_alice(store, keypairs, IdGenerator(FrozenClock()))

    user = await store.accounts.local_user("alice")
    assert user is not None
    assert user.username == "alice"
    assert user.account.is_local
    assert user.account.actor_type == "Person"
    assert user.account.created_at == START
    assert user.user.account_id == user.account.id
    assert user.user.email == "alice@example.com"
    assert user.user.is_admin is False
    assert user.user.approved is True
    stored = await store.accounts.keypairs(user.account.id)
    assert set(stored) == {"rsa", "ed25519"}
    for kind, generated in zip(("rsa", "ed25519"), keypairs, strict=True):
        assert stored[kind].private_key_pem == generated.private_key_pem
        assert stored[kind].public_key_pem == generated.public_key_pem
        # Both halves load, and belong together.
        private = load_private_key(stored[kind].private_key_pem)
        assert private.public_key() == load_public_key(stored[kind].public_key_pem)
    # The instance actor's keys (account NULL) are separate from alice's.
    assert await store.accounts.keypairs(None) == {}


async def test_duplicate_username_is_a_conflict_whatever_its_case(
    store: Store, keypairs: list[GeneratedKeyPair]
) -> None:
    ids = IdGenerator(FrozenClock())
    await create_alice(store, keypairs, ids)

    with pytest.raises(Conflict, match="already taken"):
        await create_alice(store, keypairs, ids, username="ALICE")

    assert await store.db.fetch_value("SELECT count(*) FROM accounts") == 1
    assert await store.db.fetch_value("SELECT count(*) FROM keypairs") == 2
    found = await store.accounts.local_user("Alice")
    assert found is not None
    assert found.username == "alice"


async def test_deleted_user_keeps_name_and_keys_but_loses_profile(
    store: Store, keypairs: list[GeneratedKeyPair]
) -> None:
    await create_alice(store, keypairs, IdGenerator(FrozenClock()))
    user = await store.accounts.local_user("alice")
    assert user is not None

    await store.accounts.mark_deleted(user.account.id, START + timedelta(days=1))

    deleted = await store.accounts.local_user("alice")
    assert deleted is not None
    assert deleted.account.deleted_at == START + timedelta(days=1)
    assert deleted.user.email is None
    assert deleted.user.password_hash == "!"
    assert set(await store.accounts.keypairs(user.account.id)) == {"rsa", "ed25519"}


async def test_store_written_file_is_read_by_another_store(
    tmp_path: Path, keypairs: list[GeneratedKeyPair]
) -> None:
    path = tmp_path / "shared.sqlite3"
    first = await Store.open(path)
    try:
        await first.migrate()
        await create_alice(first, keypairs, IdGenerator(FrozenClock()))
    finally:
        await first.close()

    second = await Store.open(path)
    try:
        assert await second.migrate() == []
        user = await second.accounts.local_user("alice")
        assert user is not None
        assert user.user.email == "alice@example.com"
        assert set(await second.accounts.keypairs(user.account.id)) == {"rsa", "ed25519"}
    finally:
        await second.close()


def test_ids_are_unique_and_increasing_with_a_frozen_clock() -> None:
    """100k ids in the same millisecond: more than the 16-bit sequence holds."""
    new_id = IdGenerator(FrozenClock())
    ids = [new_id() for _ in range(100_000)]
    assert all(a < b for a, b in itertools.pairwise(ids))
    assert len(set(ids)) == len(ids)
    assert all(0 < i < 2**63 for i in (ids[0], ids[-1]))


def test_ids_carry_their_time_and_sort_by_it() -> None:
    clock = FrozenClock()
    # Two generators, as in two processes: their sequences start at random points.
    first, second = IdGenerator(clock), IdGenerator(clock)
    earlier = [first() for _ in range(10)]
    clock.advance(milliseconds=1)
    later = [second() for _ in range(10)]
    assert max(earlier) < min(later)
    assert id_timestamp_ms(earlier[0]) == int(START.timestamp() * 1000)
    assert min_id_at(START) <= earlier[0] < min_id_at(clock.now)


def test_ids_keep_increasing_when_the_clock_steps_back() -> None:
    clock = FrozenClock()
    new_id = IdGenerator(clock)
    before = new_id()
    clock.advance(seconds=-5)
    assert new_id() > before


async def test_update_profile_changes_only_the_given_columns(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    store = await Store.open(tmp_path / "partial.sqlite3")
    try:
        await store.migrate()
        async with store.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO accounts (id, username, display_name, summary, created_at,"
                " updated_at) VALUES (1, 'alice', 'Alice', '<p>bio</p>', '2026-01-01T00:00:00Z',"
                " '2026-01-01T00:00:00Z')"
            )
        now = datetime(2026, 11, 21, tzinfo=UTC)
        await store.accounts.update_profile(1, manually_approves_followers=True, now=now)
        account = await store.accounts.by_id(1)
        assert account is not None
        assert account.manually_approves_followers is True
        assert (account.display_name, account.summary) == ("Alice", "<p>bio</p>")
        assert account.updated_at == now
    finally:
        await store.close()


async def test_reads_asked_for_together_share_one_trip_and_keep_their_own_errors(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fedserver/db/database.py, _CoalescedReads: concurrent reads make one trip to the
    reader's thread; a failing statement fails only its own caller."""
    from fedserver.db import database as database_module

    trips: list[int] = []
    real_batch = database_module._fetch_batch

    async def counted(connection: object, statements: list[tuple[str, object]]) -> object:
        trips.append(len(statements))
        return await real_batch(connection, statements)  # type: ignore[arg-type]

    monkeypatch.setattr(database_module, "_fetch_batch", counted)
    db = store.db
    results = await asyncio.gather(
        db.fetch_value("SELECT 1"),
        db.fetch_all("SELECT ? + 1", (41,)),
        db.fetch_one("SELECT * FROM no_such_table"),
        db.fetch_in("SELECT value FROM json_each(?) WHERE value IN ({in})", [2, 3], ("[1,2,3]",)),
        return_exceptions=True,
    )
    assert trips == [4]
    assert results[0] == 1
    assert [tuple(row) for row in results[1]] == [(42,)]  # type: ignore[union-attr]
    assert isinstance(results[2], sqlite3.OperationalError)
    assert sorted(row[0] for row in results[3]) == [2, 3]  # type: ignore[union-attr]
    # One after another: a trip each, as before.
    assert await db.fetch_value("SELECT 2") == 2
    assert await db.fetch_value("SELECT 3") == 3
    assert trips == [4, 1, 1]


async def test_a_cancelled_read_leaves_the_others_of_its_trip_alone(store: Store) -> None:
    db = store.db
    first = asyncio.ensure_future(db.fetch_value("SELECT 1"))
    gone = asyncio.ensure_future(db.fetch_value("SELECT 2"))
    third = asyncio.ensure_future(db.fetch_value("SELECT 3"))
    await asyncio.sleep(0)  # all three asked for in this turn: one trip
    gone.cancel()
    assert await first == 1
    assert await third == 3
    assert gone.cancelled()
    # The reader still works afterwards.
    assert await db.fetch_value("SELECT 4") == 4
