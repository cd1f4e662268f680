"""The inbox queue: received activities, stored before they are acknowledged."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from fedserver.db.database import Database, Row, Transaction
from fedserver.ids import isoformat


@dataclass(frozen=True)
class InboxItem:
    id: int
    activity_id: str
    activity_type: str
    actor_uri: str
    key_id: str
    recipient_account_id: int | None
    body: str
    state: str
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class CreateFacts:
    """What storing a batch of inbound Creates needs to know, read at once (see
    `Inbox.create_facts`)."""

    #: uri → (id, account id) of the stored statuses among the uris asked about.
    statuses: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: (uri, actor uri) of the tombstones of the notes asked about.
    tombstones: set[tuple[str, str]] = field(default_factory=set)
    #: username as asked → account id, of local users that are not deleted.
    local_users: dict[str, int] = field(default_factory=dict)
    #: uri → account id, of the stored accounts among the mentioned uris.
    accounts: dict[str, int] = field(default_factory=dict)
    #: (blocker, blocked) for every block of one of the authors.
    blocks: set[tuple[int, int]] = field(default_factory=set)
    #: id → (account id, author's username) of live local statuses among the ids asked.
    local_statuses: dict[int, tuple[int, str]] = field(default_factory=dict)


_CREATE_FACTS = """
    SELECT 0, s.uri, s.id, s.account_id FROM statuses s
      WHERE s.uri IN (SELECT value FROM json_each(:uris))
    UNION ALL
    SELECT 1, t.uri, NULL, t.actor_uri FROM tombstones t
      WHERE t.uri IN (SELECT value FROM json_each(:notes))
    UNION ALL
    SELECT 2, j.value, a.id, NULL FROM json_each(:names) j
      JOIN accounts a ON lower(a.username) = lower(j.value) AND a.domain IS NULL
      JOIN users u ON u.account_id = a.id
      WHERE a.deleted_at IS NULL
    UNION ALL
    SELECT 3, a.uri, a.id, NULL FROM accounts a
      WHERE a.uri IN (SELECT value FROM json_each(:mentions))
    UNION ALL
    SELECT 4, NULL, b.account_id, b.target_account_id FROM blocks b
      WHERE b.target_account_id IN (SELECT value FROM json_each(:authors))
    UNION ALL
    SELECT 5, a.username, s.id, s.account_id FROM statuses s
      JOIN accounts a ON a.id = s.account_id
      WHERE s.id IN (SELECT value FROM json_each(:local_ids))
        AND s.deleted_at IS NULL AND s.uri IS NULL
"""


#: Received activities stored by one statement at most (9 bound parameters each: within
#: the 999 of SQLite before 3.32).
ENQUEUE_ROWS = 100

_ENQUEUE = (
    "INSERT INTO inbox_items (id, activity_id, activity_type, actor_uri, key_id,"
    " recipient_account_id, body, received_at, next_attempt_at) VALUES {rows}"
    " ON CONFLICT (activity_id) DO NOTHING RETURNING id"
)
_ENQUEUE_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"

_Waiting = tuple[tuple[object, ...], "asyncio.Future[bool]"]


class Inbox:
    def __init__(self, db: Database) -> None:
        self._db = db
        # Group commit of `enqueue`: the rows of concurrent requests, written together.
        self._waiting: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None

    async def enqueue(
        self,
        *,
        item_id: int,
        activity_id: str,
        activity_type: str,
        actor_uri: str,
        key_id: str,
        recipient_account_id: int | None,
        body: str,
        now: datetime,
    ) -> bool:
        """Store a received activity; False when its id was already received (a
        redelivery), in which case nothing changes. Stored durably when this returns.

        Concurrent calls share one statement (a group commit): the rows that arrive
        while a write is under way (or waits for the writer) go in the next one, so a
        busy inbox makes far fewer trips to the writer's thread than it receives POSTs.
        """
        stamp = isoformat(now)
        row = (
            item_id,
            activity_id,
            activity_type,
            actor_uri,
            key_id,
            recipient_account_id,
            body,
            stamp,
            stamp,
        )
        stored: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, stored))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting())
        # shield: a request that goes away must not cancel the others' write; its row
        # is stored anyway (the sender retries, and the retry is a duplicate).
        return await asyncio.shield(stored)

    async def _write_waiting(self) -> None:
        batch: list[_Waiting] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:ENQUEUE_ROWS], self._waiting[ENQUEUE_ROWS:]
                try:
                    inserted = await self._insert(batch)
                except Exception:
                    # One bad row must not fail the others: each on its own, with its error.
                    for waiting in batch:
                        try:
                            alone = await self._insert([waiting])
                        except Exception as exc:
                            _settle(waiting[1], exception=exc)
                        else:
                            _settle(waiting[1], result=waiting[0][0] in alone)
                    continue
                for row, stored in batch:
                    _settle(stored, result=row[0] in inserted)
        finally:
            # Cancelled (shutdown): nobody is told "stored" for a row that may not be.
            for _, stored in batch + self._waiting:
                if not stored.done():
                    stored.cancel()

    async def _insert(self, batch: list[_Waiting]) -> set[object]:
        """One statement, committed on its own; the ids of the rows written."""
        rows = await self._db.write_one(
            _ENQUEUE.format(rows=", ".join([_ENQUEUE_ROW] * len(batch))),
            [value for row, _ in batch for value in row],
        )
        return {row[0] for row in rows}

    async def count(self) -> int:
        return int(await self._db.fetch_value("SELECT count(*) FROM inbox_items"))

    async def items(self, *, limit: int = 100) -> list[InboxItem]:
        """The most recent items first (operators, tests)."""
        rows = await self._db.fetch_all(
            "SELECT * FROM inbox_items ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [_item(row) for row in rows]

    # -- the worker's side -----------------------------------------------------------

    async def due(self, now: datetime, limit: int) -> list[InboxItem]:
        """Pending items whose time has come, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM inbox_items WHERE state = 'pending' AND next_attempt_at <= ?"
            " ORDER BY id LIMIT ?",
            (isoformat(now), limit),
        )
        return [_item(row) for row in rows]

    async def count_pending(self) -> int:
        return int(
            await self._db.fetch_value("SELECT count(*) FROM inbox_items WHERE state = 'pending'")
        )

    async def finish(self, item_id: int, *, state: str, note: str | None) -> None:
        """`done`, `ignored` (with why) or `failed` (dead letter, with why)."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE inbox_items SET state = ?, last_error = ?, attempts = attempts + 1"
                " WHERE id = ?",
                (state, note, item_id),
            )

    async def finish_many(self, outcomes: Sequence[tuple[int, str, str | None]]) -> None:
        """`finish` for several items at once, (item id, state, note) each: one
        transaction for a whole round of the worker."""
        if not outcomes:
            return
        async with self._db.transaction() as tx:
            await tx.execute_many(
                "UPDATE inbox_items SET state = ?, last_error = ?, attempts = attempts + 1"
                " WHERE id = ?",
                [(state, note, item_id) for item_id, state, note in outcomes],
            )

    async def finish_in(
        self, tx: Transaction, outcomes: Sequence[tuple[int, str, str | None]]
    ) -> None:
        """`finish_many` inside the caller's transaction: the items' states commit with
        what processing them wrote."""
        await tx.execute_many(
            "UPDATE inbox_items SET state = ?, last_error = ?, attempts = attempts + 1"
            " WHERE id = ?",
            [(state, note, item_id) for item_id, state, note in outcomes],
        )

    async def create_facts(
        self,
        tx: Transaction,
        *,
        status_uris: Collection[str],
        note_uris: Collection[str],
        local_usernames: Collection[str],
        mentioned_uris: Collection[str],
        author_ids: Collection[int],
        local_status_ids: Collection[int],
    ) -> CreateFacts:
        """Everything a batch of Creates reads, in one statement, inside the transaction
        that will store them (so nothing changes in between): stored statuses by uri,
        tombstones of the notes, local users by name, mentioned accounts, blocks of the
        authors, and local statuses by id."""
        rows = await tx.fetch_all(
            _CREATE_FACTS,
            {
                "uris": json.dumps(sorted(status_uris)),
                "notes": json.dumps(sorted(note_uris)),
                "names": json.dumps(sorted(local_usernames)),
                "mentions": json.dumps(sorted(mentioned_uris)),
                "authors": json.dumps(sorted(author_ids)),
                "local_ids": json.dumps(sorted(local_status_ids)),
            },
        )
        facts = CreateFacts()
        for kind, key, first, second in rows:
            if kind == 0:
                facts.statuses[key] = (first, second)
            elif kind == 1:
                facts.tombstones.add((key, second))
            elif kind == 2:
                facts.local_users.setdefault(key, first)
            elif kind == 3:
                facts.accounts[key] = first
            elif kind == 4:
                facts.blocks.add((first, second))
            else:
                facts.local_statuses[first] = (second, key)
        return facts

    async def retry_later(self, item_id: int, *, at: datetime, error: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE inbox_items SET attempts = attempts + 1, next_attempt_at = ?,"
                " last_error = ? WHERE id = ?",
                (isoformat(at), error, item_id),
            )


def _settle(
    future: asyncio.Future[bool],
    *,
    result: bool = False,
    exception: Exception | None = None,
) -> None:
    if future.done():
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)


def _item(row: Row) -> InboxItem:
    return InboxItem(
        id=row["id"],
        activity_id=row["activity_id"],
        activity_type=row["activity_type"],
        actor_uri=row["actor_uri"],
        key_id=row["key_id"],
        recipient_account_id=row["recipient_account_id"],
        body=row["body"],
        state=row["state"],
        attempts=row["attempts"],
        last_error=row["last_error"],
    )
