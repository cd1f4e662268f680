"""The inbox queue: received activities, stored before they are acknowledged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from fedserver.db.database import Database, Row
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


class Inbox:
    def __init__(self, db: Database) -> None:
        self._db = db

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
        redelivery), in which case nothing changes."""
        # One statement, committed on its own: stored durably when this returns.
        inserted = await self._db.write_one(
            "INSERT INTO inbox_items (id, activity_id, activity_type, actor_uri, key_id,"
            " recipient_account_id, body, received_at, next_attempt_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (activity_id) DO NOTHING"
            " RETURNING id",
            (
                item_id,
                activity_id,
                activity_type,
                actor_uri,
                key_id,
                recipient_account_id,
                body,
                isoformat(now),
                isoformat(now),
            ),
        )
        return bool(inserted)

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

    async def retry_later(self, item_id: int, *, at: datetime, error: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE inbox_items SET attempts = attempts + 1, next_attempt_at = ?,"
                " last_error = ? WHERE id = ?",
                (isoformat(at), error, item_id),
            )


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
