"""Client-side state of local users: bookmarks, mutes, timeline markers, idempotency keys."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from fedserver.db.database import MAX_ID, Database
from fedserver.db.rows import AccountRow
from fedserver.db.timelines import Window
from fedserver.ids import isoformat, parse_isoformat


class Bookmarks:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, bookmark_id: int, account_id: int, status_id: int, now: datetime) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO bookmarks (id, account_id, status_id, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (bookmark_id, account_id, status_id, isoformat(now)),
            )

    async def remove(self, account_id: int, status_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "DELETE FROM bookmarks WHERE account_id = ? AND status_id = ?",
                (account_id, status_id),
            )

    async def has(self, account_id: int, status_id: int) -> bool:
        return bool(
            await self._db.fetch_value(
                "SELECT 1 FROM bookmarks WHERE account_id = ? AND status_id = ?",
                (account_id, status_id),
            )
        )

    async def of(self, account_id: int, status_ids: Collection[int]) -> set[int]:
        """Which of `status_ids` `account_id` has bookmarked."""
        rows = await self._db.fetch_in(
            "SELECT status_id FROM bookmarks WHERE account_id = ? AND status_id IN ({in})",
            status_ids,
            (account_id,),
        )
        return {row[0] for row in rows}

    async def page(
        self, account_id: int, *, before: int | None, limit: int
    ) -> list[tuple[int, int]]:
        """(bookmark id, status id), newest bookmark first."""
        rows = await self._db.fetch_all(
            "SELECT id, status_id FROM bookmarks WHERE account_id = ? AND id < ?"
            " ORDER BY id DESC LIMIT ?",
            (account_id, MAX_ID if before is None else before, limit),
        )
        return [(row[0], row[1]) for row in rows]


class Mutes:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        mute_id: int,
        account_id: int,
        target_account_id: int,
        *,
        notifications: bool,
        expires_at: datetime | None,
        now: datetime,
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO mutes (id, account_id, target_account_id, notifications, expires_at,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, target_account_id)"
                " DO UPDATE SET notifications = excluded.notifications,"
                " expires_at = excluded.expires_at",
                (
                    mute_id,
                    account_id,
                    target_account_id,
                    notifications,
                    None if expires_at is None else isoformat(expires_at),
                    isoformat(now),
                ),
            )

    async def remove(self, account_id: int, target_account_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "DELETE FROM mutes WHERE account_id = ? AND target_account_id = ?",
                (account_id, target_account_id),
            )

    async def get(self, account_id: int, target_account_id: int, now: datetime) -> bool | None:
        """None when not muted (or the mute expired); else whether notifications are muted."""
        row = await self._db.fetch_one(
            "SELECT notifications, expires_at FROM mutes WHERE account_id = ?"
            " AND target_account_id = ?",
            (account_id, target_account_id),
        )
        if row is None:
            return None
        if row["expires_at"] is not None and parse_isoformat(row["expires_at"]) <= now:
            return None
        return bool(row["notifications"])

    async def page(
        self, account_id: int, *, before: int | None, limit: int
    ) -> list[tuple[int, int]]:
        """(mute id, muted account id), newest first."""
        rows = await self._db.fetch_all(
            "SELECT id, target_account_id FROM mutes WHERE account_id = ? AND id < ?"
            " ORDER BY id DESC LIMIT ?",
            (account_id, MAX_ID if before is None else before, limit),
        )
        return [(row[0], row[1]) for row in rows]

    async def expires_at(
        self, account_id: int, target_account_id: int, now: datetime
    ) -> datetime | None:
        """When a live mute ends (None: never, or not muted)."""
        value = await self._db.fetch_value(
            "SELECT expires_at FROM mutes WHERE account_id = ? AND target_account_id = ?"
            " AND (expires_at IS NULL OR expires_at > ?)",
            (account_id, target_account_id, isoformat(now)),
        )
        return None if value is None else parse_isoformat(value)

    async def window(
        self, account_id: int, window: Window, now: datetime
    ) -> list[tuple[int, AccountRow, datetime | None]]:
        """(mute id, muted account, expiry) of live mutes, newest first."""
        condition, values, order = window.clause("m.id")
        rows = await self._db.fetch_all(
            "SELECT m.id AS cursor, m.expires_at AS mute_expires_at, a.* FROM mutes m"
            " JOIN accounts a ON a.id = m.target_account_id WHERE m.account_id = :account"
            f" AND (m.expires_at IS NULL OR m.expires_at > :now) AND {condition}"
            f" ORDER BY m.id {order} LIMIT :limit",
            {"account": account_id, "now": isoformat(now), **values},
        )
        found = [
            (row["cursor"], AccountRow.from_row(row), _maybe_time(row["mute_expires_at"]))
            for row in rows
        ]
        return found[::-1] if order == "ASC" else found


def _maybe_time(value: str | None) -> datetime | None:
    return None if value is None else parse_isoformat(value)


class Markers:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, account_id: int) -> dict[str, tuple[str, int, datetime]]:
        """timeline → (last_read_id, version, updated_at)."""
        rows = await self._db.fetch_all(
            "SELECT timeline, last_read_id, version, updated_at FROM markers WHERE account_id = ?",
            (account_id,),
        )
        return {r[0]: (r[1], r[2], parse_isoformat(r[3])) for r in rows}

    async def set(self, account_id: int, timeline: str, last_read_id: str, now: datetime) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO markers (account_id, timeline, last_read_id, version, updated_at)"
                " VALUES (?, ?, ?, 1, ?) ON CONFLICT (account_id, timeline) DO UPDATE SET"
                " last_read_id = excluded.last_read_id, version = markers.version + 1,"
                " updated_at = excluded.updated_at",
                (account_id, timeline, last_read_id, isoformat(now)),
            )


class IdempotencyKeys:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def status_for(self, user_id: int, key: str, since: datetime) -> int | None:
        value = await self._db.fetch_value(
            "SELECT status_id FROM idempotency_keys WHERE user_id = ? AND key = ?"
            " AND created_at >= ?",
            (user_id, key, isoformat(since)),
        )
        return None if value is None else int(value)

    async def remember(self, user_id: int, key: str, status_id: int, now: datetime) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO idempotency_keys (user_id, key, status_id, created_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (user_id, key) DO UPDATE SET"
                " status_id = excluded.status_id, created_at = excluded.created_at",
                (user_id, key, status_id, isoformat(now)),
            )
