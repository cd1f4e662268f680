"""Notifications of local accounts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from fedserver.db.database import Database, Row, Transaction
from fedserver.ids import isoformat, parse_isoformat


@dataclass(frozen=True)
class NotificationRow:
    id: int
    account_id: int
    from_account_id: int
    type: str
    status_id: int | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> NotificationRow:
        return cls(
            id=row["id"],
            account_id=row["account_id"],
            from_account_id=row["from_account_id"],
            type=row["type"],
            status_id=row["status_id"],
            created_at=parse_isoformat(row["created_at"]),
        )


class Notifications:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        tx: Transaction,
        *,
        notification_id: int,
        account_id: int,
        from_account_id: int,
        kind: str,
        status_id: int | None,
        now: datetime,
    ) -> bool:
        """Notify a local account; a repeat of the same event notifies once."""
        return await tx.insert(
            "INSERT INTO notifications (id, account_id, from_account_id, type, status_id,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (notification_id, account_id, from_account_id, kind, status_id, isoformat(now)),
        )

    async def remove(
        self,
        tx: Transaction,
        *,
        account_id: int,
        from_account_id: int,
        kind: str,
        status_id: int | None,
    ) -> None:
        """Withdraw the notification of an undone event (an unfavourite, an unfollow)."""
        await tx.execute(
            "DELETE FROM notifications WHERE account_id = ? AND from_account_id = ?"
            " AND type = ? AND coalesce(status_id, 0) = ?",
            (account_id, from_account_id, kind, status_id or 0),
        )

    async def add_many(
        self,
        tx: Transaction,
        recipients: Sequence[tuple[int, int]],
        *,
        from_account_id: int,
        kind: str,
        status_id: int | None,
        now: datetime,
    ) -> None:
        """`add` for several local accounts, (notification id, account id) each, in one
        statement; a repeat of the same event notifies once."""
        await tx.execute_many(
            "INSERT INTO notifications (id, account_id, from_account_id, type, status_id,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                (notification_id, account_id, from_account_id, kind, status_id, isoformat(now))
                for notification_id, account_id in recipients
            ],
        )

    async def add_each(
        self,
        tx: Transaction,
        notifications: Sequence[tuple[int, int, int, str, int | None]],
        *,
        now: datetime,
    ) -> None:
        """`add` for several events at once, (notification id, account id, from account
        id, type, status id) each, in one statement (a batch of inbound activities); a
        repeat of the same event notifies once."""
        stamp = isoformat(now)
        await tx.execute_many(
            "INSERT INTO notifications (id, account_id, from_account_id, type, status_id,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(*notification, stamp) for notification in notifications],
        )
