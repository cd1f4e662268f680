"""The SQLite gateway: connections, transactions and migrations. Every SQL string lives
in `fedserver.db`; this module holds the ones that are about the database itself.

Two aiosqlite connections: one writer, used only inside `transaction()` (or for one
self-committing statement, `write_one()`) and serialised by an asyncio lock (SQLite has a
single writer anyway; the lock keeps one coroutine's statements from interleaving with
another's on the shared connection), and one reader, so
reads never see another coroutine's uncommitted writes. WAL mode lets the reader run while
the writer commits. `synchronous=NORMAL` in WAL mode loses nothing when the process is
killed (only a power cut can roll back the last commits), which is the promise we make:
what we acknowledged survives kill -9.

Dialect-specific SQL (pragmas, `BEGIN IMMEDIATE`, the `?` placeholder style) is confined to
this module, so a PostgreSQL gateway can replace it without touching the repositories.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

Params = Sequence[Any] | dict[str, Any]
Row = sqlite3.Row

#: Larger than any id: the cursor of a first page.
MAX_ID = (1 << 63) - 1

#: Values per `IN (...)` list in one statement. SQLite before 3.32 allows 999 bound
#: parameters per statement; a statement may repeat its list (three times at most here).
IN_CHUNK = 300

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """The numbered .sql files shipped in fedserver/migrations, in order."""
    found = []
    for entry in resources.files("fedserver.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise RuntimeError(f"migration {migration.name} is out of sequence")
    return found


def split_statements(script: str) -> list[str]:
    """Split a migration into statements, trigger bodies (BEGIN ... END;) kept whole.

    sqlite3's executescript() would COMMIT our open transaction first, so statements are
    executed one by one inside it instead. `sqlite3.complete_statement` decides where
    one ends, so a ';' inside a trigger body or a string does not split it.
    """
    statements: list[str] = []
    pending: list[str] = []
    for line in script.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("--")):
            continue
        pending.append(line)
        text = "\n".join(pending)
        if sqlite3.complete_statement(text):
            statements.append(text.strip().rstrip(";").strip())
            pending = []
    if "\n".join(pending).strip():
        statements.append("\n".join(pending).strip())
    return statements


class Transaction:
    """The writer connection while a transaction is open."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows changed."""
        async with self._connection.execute(sql, params) as cursor:
            return cursor.rowcount

    async def insert(self, sql: str, params: Params = ()) -> bool:
        """Run an INSERT ... ON CONFLICT DO NOTHING; True when a row was written."""
        return await self.execute(sql, params) > 0

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement for each of `rows`, in one trip (none when there are none)."""
        batch = list(rows)
        if batch:
            await self._connection.executemany(sql, batch)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        return _first(await _fetch_all(self._connection, sql, params))

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return await _fetch_all(self._connection, sql, params)


class Database:
    """Open with `await Database.open(path)`; close with `await db.close()`."""

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection):
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self._reads = _CoalescedReads(reader)

    @classmethod
    async def open(cls, path: Path) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path)
        try:
            await _run(writer, "PRAGMA journal_mode = WAL")
            reader = await _connect(path)
        except BaseException:
            await writer.close()
            raise
        return cls(writer, reader)

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """An explicit write transaction: BEGIN IMMEDIATE … COMMIT, or ROLLBACK on error."""
        async with self._write_lock:
            await _run(self._writer, "BEGIN IMMEDIATE")
            try:
                yield Transaction(self._writer)
            except BaseException:
                await _run(self._writer, "ROLLBACK")
                raise
            await _run(self._writer, "COMMIT")

    async def write_one(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one write statement as a transaction of its own (SQLite commits a lone
        statement by itself): one trip to the writer's thread instead of the three of
        BEGIN, the statement and COMMIT, equally durable. Returns its rows (`RETURNING`).
        The write lock keeps it out of another coroutine's open transaction."""
        async with self._write_lock:
            return await _fetch_all(self._writer, sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row. Every row the query returns is read (see `_fetch_all`): meant
        for queries that return at most one row (a key lookup, an aggregate, LIMIT 1)."""
        return _first(await self._reads.fetch_all(sql, params))

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._reads.fetch_all(sql, params)

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]

    async def fetch_in(
        self, sql: str, values: Collection[Any], params: Sequence[Any] = ()
    ) -> list[Row]:
        """The rows of `sql` for many keys at once: each `{in}` in it becomes a list of
        bound parameters holding `values` (deduplicated, in chunks of `IN_CHUNK`, one
        statement per chunk), after the positional `params`, which come first in `sql`.
        Rows of different chunks are concatenated: order them in Python if it matters
        across chunks."""
        unique = sorted(set(values))
        if not unique:
            return []
        lists = sql.count("{in}")
        found: list[Row] = []
        for start in range(0, len(unique), IN_CHUNK):
            chunk = unique[start : start + IN_CHUNK]
            statement = sql.replace("{in}", ", ".join("?" * len(chunk)))
            found += await self._reads.fetch_all(statement, (*params, *chunk * lists))
        return found

    # -- migrations ------------------------------------------------------------------

    async def schema_version(self) -> int:
        async with self._writer.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> list[str]:
        """Apply every pending migration, each in its own transaction; returns their names."""
        applied = []
        current = await self.schema_version()
        migrations = load_migrations()
        if current > len(migrations):
            raise RuntimeError(
                f"the database is at schema version {current}, newer than this "
                f"fedserver knows ({len(migrations)}): upgrade fedserver"
            )
        for migration in migrations[current:]:
            async with self.transaction() as tx:
                for statement in split_statements(migration.sql):
                    await tx.execute(statement)
                # PRAGMA takes no bound parameters; the version is our own integer.
                await tx.execute(f"PRAGMA user_version = {migration.version:d}")
            log.info("applied migration %s", migration.name)
            applied.append(migration.name)
        return applied


async def _connect(path: Path) -> aiosqlite.Connection:
    connection = await aiosqlite.connect(path, isolation_level=None)
    try:
        connection.row_factory = sqlite3.Row
        for pragma in (
            "PRAGMA foreign_keys = ON",
            "PRAGMA busy_timeout = 5000",
            "PRAGMA synchronous = NORMAL",
        ):
            await _run(connection, pragma)
    except BaseException:
        await connection.close()
        raise
    return connection


async def _run(connection: aiosqlite.Connection, sql: str) -> None:
    """Run a statement to completion: an unfinished statement keeps its lock."""
    await _fetch_all(connection, sql, ())


async def _fetch_all(connection: aiosqlite.Connection, sql: str, params: Params) -> list[Row]:
    """Execute and read every row in one trip to the connection's thread.

    Each aiosqlite call is a hand-off to that thread and back (a queue, a wake-up of
    the event loop); `execute`, `fetchone` and closing the cursor would be three. The
    statement runs to its end, so it is reset and holds no lock afterwards.
    """
    return list(await connection.execute_fetchall(sql, params))


class _CoalescedReads:
    """Reads on the reader connection, those asked for in the same turn of the event loop
    sent to its thread together: one trip (a queue hand-off, a wake-up of the thread and
    one of the loop) for all of them instead of one each.

    Reads asked for one after another still take a trip each; reads made concurrently
    (`asyncio.gather` in the presenter, or different requests in flight at once) share
    one. Each read gets its own rows or its own exception.
    """

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection
        self._pending: list[tuple[str, Params, asyncio.Future[list[Row]]]] = []

    def fetch_all(self, sql: str, params: Params) -> asyncio.Future[list[Row]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Row]] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((sql, params, future))
        return future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        statements = [(sql, params) for sql, params, _ in batch]
        futures = [future for _, _, future in batch]
        task = asyncio.ensure_future(_fetch_batch(self._connection, statements))
        task.add_done_callback(lambda done: _settle(done, futures))


def _settle(done: asyncio.Future[list[list[Row] | Exception]], futures: list[Any]) -> None:
    """Hand each caller of a batch its rows or its exception (all of them the batch's
    own failure, or its cancellation when the loop shuts down)."""
    for index, future in enumerate(futures):
        if future.done():  # its caller was cancelled meanwhile
            continue
        if done.cancelled():
            future.cancel()
        elif (error := done.exception()) is not None:
            future.set_exception(error)
        else:
            result = done.result()[index]
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


async def _fetch_batch(
    connection: aiosqlite.Connection, statements: list[tuple[str, Params]]
) -> list[list[Row] | Exception]:
    """Run several read statements in one trip to the connection's thread.

    aiosqlite has no public call for "run this function on your thread"; `_execute` is
    that call (pinned: aiosqlite < 0.23 in pyproject.toml, and tests/fedserver/test_db.py
    covers this path).
    """
    return await connection._execute(_read_statements, connection, statements)  # type: ignore[no-untyped-call,no-any-return]


def _read_statements(
    connection: aiosqlite.Connection, statements: list[tuple[str, Params]]
) -> list[list[Row] | Exception]:
    raw: sqlite3.Connection = connection._conn
    results: list[list[Row] | Exception] = []
    for sql, params in statements:
        try:
            results.append(raw.execute(sql, params).fetchall())
        except Exception as exc:  # handed to that statement's caller
            results.append(exc)
    return results


def _first(rows: list[Row]) -> Row | None:
    return rows[0] if rows else None


def is_unique_violation(exc: BaseException) -> bool:
    """Whether an exception is a UNIQUE constraint failure (the dialect-specific check)."""
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)


def like_prefix(text: str) -> str:
    """A `LIKE ? ESCAPE '\\'` pattern matching strings that start with `text` (its own
    wildcards escaped)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
