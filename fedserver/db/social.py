"""Edges between accounts and statuses: follows, favourites, blocks, pins."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from fedserver.db.database import MAX_ID, Database, Row, Transaction
from fedserver.db.rows import AccountRow, CollectionItem
from fedserver.db.timelines import Window
from fedserver.ids import isoformat


@dataclass(frozen=True)
class FollowRow:
    id: int
    account_id: int
    target_account_id: int
    uri: str | None
    state: str
    #: The follower's options (the API's `reblogs` and `notify`).
    show_reblogs: bool = True
    notify: bool = False


def _follow(row: Row) -> FollowRow:
    return FollowRow(
        id=row["id"],
        account_id=row["account_id"],
        target_account_id=row["target_account_id"],
        uri=row["uri"],
        state=row["state"],
        show_reblogs=bool(row["show_reblogs"]),
        notify=bool(row["notify"]),
    )


class Follows:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def accepted_targets(self, account_id: int, target_ids: Collection[int]) -> set[int]:
        """Which of `target_ids` `account_id` follows, accepted (`get` for a page)."""
        rows = await self._db.fetch_in(
            "SELECT target_account_id FROM follows WHERE account_id = ? AND state = 'accepted'"
            " AND target_account_id IN ({in})",
            target_ids,
            (account_id,),
        )
        return {row[0] for row in rows}

    async def get(self, account_id: int, target_account_id: int) -> FollowRow | None:
        row = await self._db.fetch_one(
            "SELECT * FROM follows WHERE account_id = ? AND target_account_id = ?",
            (account_id, target_account_id),
        )
        return None if row is None else _follow(row)

    async def by_uri(self, uri: str) -> FollowRow | None:
        row = await self._db.fetch_one("SELECT * FROM follows WHERE uri = ?", (uri,))
        return None if row is None else _follow(row)

    async def add(
        self,
        tx: Transaction,
        *,
        follow_id: int,
        account_id: int,
        target_account_id: int,
        uri: str | None,
        state: str,
        now: datetime,
    ) -> None:
        """Create or refresh a follow; a repeated Follow updates its uri and state."""
        await tx.execute(
            "INSERT INTO follows (id, account_id, target_account_id, uri, state, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, target_account_id)"
            " DO UPDATE SET uri = excluded.uri,"
            " state = CASE WHEN follows.state = 'accepted' THEN 'accepted'"
            " ELSE excluded.state END",
            (follow_id, account_id, target_account_id, uri, state, isoformat(now)),
        )

    async def accept(self, tx: Transaction, follow_id: int) -> None:
        await tx.execute("UPDATE follows SET state = 'accepted' WHERE id = ?", (follow_id,))

    async def remove(self, tx: Transaction, follow_id: int) -> None:
        await tx.execute("DELETE FROM follows WHERE id = ?", (follow_id,))

    async def remove_between(self, tx: Transaction, first: int, second: int) -> None:
        """Both directions (a block severs them)."""
        await tx.execute(
            "DELETE FROM follows WHERE (account_id = ? AND target_account_id = ?)"
            " OR (account_id = ? AND target_account_id = ?)",
            (first, second, second, first),
        )

    async def local_follower_ids(self, target_account_id: int) -> list[int]:
        """Local accounts following `target` (accepted): whose home feeds get its posts."""
        rows = await self._db.fetch_all(
            "SELECT f.account_id FROM follows f JOIN accounts a ON a.id = f.account_id"
            " WHERE f.target_account_id = ? AND f.state = 'accepted' AND a.domain IS NULL",
            (target_account_id,),
        )
        return [row[0] for row in rows]

    async def remote_follower_inboxes(self, target_account_id: int) -> list[tuple[str, str | None]]:
        """(inbox, shared inbox) of remote accepted followers, for delivery planning."""
        rows = await self._db.fetch_all(
            "SELECT a.inbox_url, a.shared_inbox_url FROM follows f"
            " JOIN accounts a ON a.id = f.account_id"
            " WHERE f.target_account_id = ? AND f.state = 'accepted'"
            " AND a.domain IS NOT NULL AND a.deleted_at IS NULL AND a.inbox_url IS NOT NULL",
            (target_account_id,),
        )
        return [(row[0], row[1]) for row in rows]

    async def follower_ids_of(self, target_account_id: int) -> list[int]:
        rows = await self._db.fetch_all(
            "SELECT account_id FROM follows WHERE target_account_id = ? AND state = 'accepted'",
            (target_account_id,),
        )
        return [row[0] for row in rows]

    async def count_followers(self, account_id: int) -> int:
        return int(
            await self._db.fetch_value(
                "SELECT coalesce(max(followers_count), 0) FROM account_stats WHERE account_id = ?",
                (account_id,),
            )
        )

    async def count_following(self, account_id: int) -> int:
        return int(
            await self._db.fetch_value(
                "SELECT coalesce(max(following_count), 0) FROM account_stats WHERE account_id = ?",
                (account_id,),
            )
        )

    async def followers_page(
        self, account_id: int, *, before: int | None, limit: int
    ) -> list[CollectionItem]:
        """Accepted followers, newest follow first, with follow ids below `before`."""
        return await self._page("account_id", "target_account_id", account_id, before, limit)

    async def following_page(
        self, account_id: int, *, before: int | None, limit: int
    ) -> list[CollectionItem]:
        return await self._page("target_account_id", "account_id", account_id, before, limit)

    async def _page(
        self, other: str, mine: str, account_id: int, before: int | None, limit: int
    ) -> list[CollectionItem]:
        # `other`/`mine` are one of two fixed column names chosen above, never input.
        rows = await self._db.fetch_all(
            f"""
            SELECT f.id AS cursor, a.id AS account_id, a.username, a.domain, a.uri
            FROM follows f JOIN accounts a ON a.id = f.{other}
            WHERE f.{mine} = ? AND f.state = 'accepted' AND f.id < ?
              AND a.deleted_at IS NULL
            ORDER BY f.id DESC LIMIT ?
            """,
            (account_id, MAX_ID if before is None else before, limit),
        )
        return [
            CollectionItem(
                cursor=row["cursor"],
                account_id=row["account_id"],
                username=row["username"],
                domain=row["domain"],
                uri=row["uri"],
            )
            for row in rows
        ]

    async def set_options(
        self, account_id: int, target_account_id: int, *, show_reblogs: bool, notify: bool
    ) -> None:
        """Whether the follower sees the target's boosts and is notified of its posts."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE follows SET show_reblogs = ?, notify = ?"
                " WHERE account_id = ? AND target_account_id = ?",
                (show_reblogs, notify, account_id, target_account_id),
            )

    async def count_requests(self, target_account_id: int) -> int:
        """Follow requests waiting for `target_account_id`'s answer."""
        return int(
            await self._db.fetch_value(
                "SELECT count(*) FROM follows WHERE target_account_id = ? AND state = 'pending'",
                (target_account_id,),
            )
        )

    async def requester_ids(self, target_account_id: int) -> list[int]:
        rows = await self._db.fetch_all(
            "SELECT account_id FROM follows WHERE target_account_id = ? AND state = 'pending'"
            " ORDER BY id",
            (target_account_id,),
        )
        return [row[0] for row in rows]

    async def followers_window(
        self, account_id: int, window: Window
    ) -> list[tuple[int, AccountRow]]:
        """(follow id, follower) of accepted followers, newest follow first."""
        return await self._accounts(
            "account_id", "target_account_id", account_id, "accepted", window
        )

    async def following_window(
        self, account_id: int, window: Window
    ) -> list[tuple[int, AccountRow]]:
        """(follow id, followed account), newest follow first."""
        return await self._accounts(
            "target_account_id", "account_id", account_id, "accepted", window
        )

    async def requests_window(
        self, account_id: int, window: Window
    ) -> list[tuple[int, AccountRow]]:
        """(follow id, requester) of pending follow requests to `account_id`."""
        return await self._accounts(
            "account_id", "target_account_id", account_id, "pending", window
        )

    async def _accounts(
        self, other: str, mine: str, account_id: int, state: str, window: Window
    ) -> list[tuple[int, AccountRow]]:
        # `other`/`mine` are one of two fixed column names chosen above, never input.
        condition, values, order = window.clause("f.id")
        rows = await self._db.fetch_all(
            f"SELECT f.id AS cursor, a.* FROM follows f JOIN accounts a ON a.id = f.{other}"
            f" WHERE f.{mine} = :account AND f.state = :state AND a.deleted_at IS NULL"
            f" AND {condition} ORDER BY f.id {order} LIMIT :limit",
            {"account": account_id, "state": state, **values},
        )
        found = [(row["cursor"], AccountRow.from_row(row)) for row in rows]
        return found[::-1] if order == "ASC" else found


class Favourites:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        tx: Transaction,
        *,
        fav_id: int,
        account_id: int,
        status_id: int,
        uri: str | None,
        now: datetime,
    ) -> bool:
        return await tx.insert(
            "INSERT INTO favourites (id, account_id, status_id, uri, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (fav_id, account_id, status_id, uri, isoformat(now)),
        )

    async def by_uri(self, uri: str) -> tuple[int, int, int] | None:
        """(id, account_id, status_id)."""
        row = await self._db.fetch_one(
            "SELECT id, account_id, status_id FROM favourites WHERE uri = ?", (uri,)
        )
        return None if row is None else (row[0], row[1], row[2])

    async def get(self, account_id: int, status_id: int) -> tuple[int, str | None] | None:
        """(id, uri) of an account's favourite of a status."""
        row = await self._db.fetch_one(
            "SELECT id, uri FROM favourites WHERE account_id = ? AND status_id = ?",
            (account_id, status_id),
        )
        return None if row is None else (row[0], row[1])

    async def of(self, account_id: int, status_ids: Collection[int]) -> set[int]:
        """Which of `status_ids` `account_id` has favourited."""
        rows = await self._db.fetch_in(
            "SELECT status_id FROM favourites WHERE account_id = ? AND status_id IN ({in})",
            status_ids,
            (account_id,),
        )
        return {row[0] for row in rows}

    async def remove(self, tx: Transaction, fav_id: int) -> None:
        await tx.execute("DELETE FROM favourites WHERE id = ?", (fav_id,))


class Blocks:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        tx: Transaction,
        *,
        block_id: int,
        account_id: int,
        target_account_id: int,
        uri: str | None,
        now: datetime,
    ) -> None:
        await tx.execute(
            "INSERT INTO blocks (id, account_id, target_account_id, uri, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, target_account_id)"
            " DO UPDATE SET uri = excluded.uri",
            (block_id, account_id, target_account_id, uri, isoformat(now)),
        )

    async def by_uri(self, uri: str) -> tuple[int, int, int] | None:
        """(id, account_id, target_account_id)."""
        row = await self._db.fetch_one(
            "SELECT id, account_id, target_account_id FROM blocks WHERE uri = ?", (uri,)
        )
        return None if row is None else (row[0], row[1], row[2])

    async def get(self, account_id: int, target_account_id: int) -> tuple[int, str | None] | None:
        """(id, uri) of a block."""
        row = await self._db.fetch_one(
            "SELECT id, uri FROM blocks WHERE account_id = ? AND target_account_id = ?",
            (account_id, target_account_id),
        )
        return None if row is None else (row[0], row[1])

    async def remove(self, tx: Transaction, block_id: int) -> None:
        await tx.execute("DELETE FROM blocks WHERE id = ?", (block_id,))

    async def is_blocked(self, account_id: int, target_account_id: int) -> bool:
        """Whether `account_id` blocks `target_account_id`."""
        return bool(
            await self._db.fetch_value(
                "SELECT 1 FROM blocks WHERE account_id = ? AND target_account_id = ?",
                (account_id, target_account_id),
            )
        )

    async def blockers_of(self, account_ids: Collection[int], target_account_id: int) -> set[int]:
        """Which of `account_ids` block `target_account_id` (`is_blocked` for a page)."""
        rows = await self._db.fetch_in(
            "SELECT account_id FROM blocks WHERE target_account_id = ? AND account_id IN ({in})",
            account_ids,
            (target_account_id,),
        )
        return {row[0] for row in rows}

    async def window(self, account_id: int, window: Window) -> list[tuple[int, AccountRow]]:
        """(block id, blocked account), newest block first."""
        condition, values, order = window.clause("b.id")
        rows = await self._db.fetch_all(
            "SELECT b.id AS cursor, a.* FROM blocks b JOIN accounts a"
            f" ON a.id = b.target_account_id WHERE b.account_id = :account AND {condition}"
            f" ORDER BY b.id {order} LIMIT :limit",
            {"account": account_id, **values},
        )
        found = [(row["cursor"], AccountRow.from_row(row)) for row in rows]
        return found[::-1] if order == "ASC" else found

    async def blocks_either_way(self, first: int, second: int) -> bool:
        return bool(
            await self._db.fetch_value(
                "SELECT 1 FROM blocks WHERE (account_id = ? AND target_account_id = ?)"
                " OR (account_id = ? AND target_account_id = ?)",
                (first, second, second, first),
            )
        )


class Pins:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, tx: Transaction, account_id: int, status_id: int, now: datetime) -> None:
        await tx.execute(
            "INSERT INTO pins (account_id, status_id, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (account_id, status_id, isoformat(now)),
        )

    async def remove(self, tx: Transaction, account_id: int, status_id: int) -> None:
        await tx.execute(
            "DELETE FROM pins WHERE account_id = ? AND status_id = ?", (account_id, status_id)
        )

    async def status_ids(self, account_id: int) -> list[int]:
        rows = await self._db.fetch_all(
            "SELECT status_id FROM pins WHERE account_id = ? ORDER BY created_at DESC",
            (account_id,),
        )
        return [row[0] for row in rows]
