"""Timeline and list reads with Mastodon's id paging: `max_id` and `since_id` give the
newest items in the window; `min_id` gives the oldest items just after it (used to page
forward), still returned newest first."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from fedserver.db.database import MAX_ID, Database, Params
from fedserver.db.notifications import NotificationRow
from fedserver.db.rows import StatusRow


@dataclass(frozen=True)
class Window:
    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None
    limit: int = 20

    def clause(self, column: str) -> tuple[str, dict[str, object], str]:
        """SQL condition on `column` with named parameters (:win_hi, :win_lo, :limit),
        and the ORDER BY direction."""
        upper = MAX_ID if self.max_id is None else self.max_id
        if self.min_id is not None:
            lower, order = self.min_id, "ASC"
        else:
            lower, order = (0 if self.since_id is None else self.since_id), "DESC"
        params: dict[str, object] = {"win_hi": upper, "win_lo": lower, "limit": self.limit}
        return f"{column} < :win_hi AND {column} > :win_lo", params, order


# Statuses readable by everyone, not deleted, and not by a blocked or muted author of the
# viewer (the viewer id is the first parameter; -1 when there is no viewer).
_NOT_HIDDEN = """
  s.deleted_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM blocks b WHERE
        (b.account_id = :viewer AND b.target_account_id = s.account_id)
     OR (b.account_id = s.account_id AND b.target_account_id = :viewer))
  AND NOT EXISTS (SELECT 1 FROM mutes m WHERE m.account_id = :viewer
        AND m.target_account_id = s.account_id)
"""


class Timelines:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _statuses(self, sql: str, params: Params, order: str) -> list[StatusRow]:
        rows = await self._db.fetch_all(sql, params)
        statuses = [StatusRow.from_row(row) for row in rows]
        return statuses[::-1] if order == "ASC" else statuses

    async def home(self, account_id: int, window: Window) -> list[StatusRow]:
        condition, values, order = window.clause("f.status_id")
        sql = f"""
            SELECT s.* FROM home_feed f JOIN statuses s ON s.id = f.status_id
            WHERE f.account_id = :viewer AND {condition}
              AND {_NOT_HIDDEN}
              AND NOT (s.reblog_of_id IS NOT NULL AND EXISTS (SELECT 1 FROM follows fo
                    WHERE fo.account_id = :viewer AND fo.target_account_id = s.account_id
                      AND fo.show_reblogs = 0))
            ORDER BY f.status_id {order} LIMIT :limit
        """
        params = {"viewer": account_id, **values}
        return await self._statuses(sql, params, order)

    async def public(
        self,
        window: Window,
        *,
        viewer_id: int | None,
        local: bool | None,
        only_media: bool,
        tag: str | None = None,
    ) -> list[StatusRow]:
        """Public statuses (no boosts); `local` True: ours, False: remote, None: both."""
        condition, values, order = window.clause("s.id")
        extra = ""
        if local is True:
            extra += " AND a.domain IS NULL"
        elif local is False:
            extra += " AND a.domain IS NOT NULL"
        if only_media:
            extra += " AND EXISTS (SELECT 1 FROM media_attachments ma WHERE ma.status_id = s.id)"
        if tag is not None:
            extra += (
                " AND EXISTS (SELECT 1 FROM status_tags st JOIN tags t ON t.id = st.tag_id"
                " WHERE st.status_id = s.id AND t.name = :tag)"
            )
        sql = f"""
            SELECT s.* FROM statuses s JOIN accounts a ON a.id = s.account_id
            WHERE s.visibility = 'public' AND s.reblog_of_id IS NULL AND a.deleted_at IS NULL
              AND {condition} {extra}
              AND {_NOT_HIDDEN}
            ORDER BY s.id {order} LIMIT :limit
        """
        params: dict[str, object] = {"viewer": -1 if viewer_id is None else viewer_id, **values}
        if tag is not None:
            params["tag"] = tag.lower()
        return await self._statuses(sql, params, order)

    async def replies(self, status_id: int) -> list[StatusRow]:
        rows = await self._db.fetch_all(
            "SELECT * FROM statuses WHERE in_reply_to_id = ? AND deleted_at IS NULL ORDER BY id",
            (status_id,),
        )
        return [StatusRow.from_row(row) for row in rows]

    async def notifications(
        self,
        account_id: int,
        window: Window,
        *,
        types: list[str],
        exclude_types: list[str],
        from_account_id: int | None,
    ) -> list[NotificationRow]:
        condition, values, order = window.clause("n.id")
        params: dict[str, object] = {"account": account_id, **values}
        extra = ""
        if types:
            extra += f" AND n.type IN ({', '.join(f':t{i}' for i in range(len(types)))})"
            params.update({f"t{i}": t for i, t in enumerate(types)})
        if exclude_types:
            extra += (
                f" AND n.type NOT IN ({', '.join(f':x{i}' for i in range(len(exclude_types)))})"
            )
            params.update({f"x{i}": t for i, t in enumerate(exclude_types)})
        if from_account_id is not None:
            extra += " AND n.from_account_id = :from_account"
            params["from_account"] = from_account_id
        sql = f"""
            SELECT n.* FROM notifications n
            WHERE n.account_id = :account
              AND {condition} {extra}
              AND NOT EXISTS (SELECT 1 FROM mutes m WHERE m.account_id = :account
                    AND m.target_account_id = n.from_account_id AND m.notifications = 1)
              AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.account_id = :account
                    AND b.target_account_id = n.from_account_id)
            ORDER BY n.id {order} LIMIT :limit
        """
        rows = await self._db.fetch_all(sql, params)
        found = [NotificationRow.from_row(row) for row in rows]
        return found[::-1] if order == "ASC" else found

    async def favourited(self, account_id: int, window: Window) -> list[tuple[int, StatusRow]]:
        """(favourite id, status) of an account's favourites, newest first."""
        return await self._edges("favourites", account_id, window)

    async def bookmarked(self, account_id: int, window: Window) -> list[tuple[int, StatusRow]]:
        return await self._edges("bookmarks", account_id, window)

    async def _edges(
        self, table: str, account_id: int, window: Window
    ) -> list[tuple[int, StatusRow]]:
        # `table` is one of two fixed names above, never input.
        condition, values, order = window.clause("e.id")
        rows = await self._db.fetch_all(
            f"SELECT e.id AS edge_id, s.* FROM {table} e JOIN statuses s ON s.id = e.status_id"
            f" WHERE e.account_id = :account AND {condition} AND s.deleted_at IS NULL"
            f" ORDER BY e.id {order} LIMIT :limit",
            {"account": account_id, **values},
        )
        found = [(row["edge_id"], StatusRow.from_row(row)) for row in rows]
        return found[::-1] if order == "ASC" else found

    async def reacting_accounts(
        self, status_id: int, *, reblogs: bool, window: Window
    ) -> list[tuple[int, int]]:
        """(edge id, account id) of who favourited or boosted a status."""
        condition, values, order = window.clause("e.id")
        if reblogs:
            sql = (
                f"SELECT e.id, e.account_id FROM statuses e WHERE e.reblog_of_id = :status"
                f" AND e.deleted_at IS NULL AND {condition} ORDER BY e.id {order} LIMIT :limit"
            )
        else:
            sql = (
                f"SELECT e.id, e.account_id FROM favourites e WHERE e.status_id = :status"
                f" AND {condition} ORDER BY e.id {order} LIMIT :limit"
            )
        rows = await self._db.fetch_all(sql, {"status": status_id, **values})
        found = [(row[0], row[1]) for row in rows]
        return found[::-1] if order == "ASC" else found

    async def clear_notifications(self, account_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM notifications WHERE account_id = ?", (account_id,))

    async def dismiss_notification(self, account_id: int, notification_id: int) -> bool:
        async with self._db.transaction() as tx:
            return (
                await tx.execute(
                    "DELETE FROM notifications WHERE account_id = ? AND id = ?",
                    (account_id, notification_id),
                )
                > 0
            )

    async def notification(self, account_id: int, notification_id: int) -> NotificationRow | None:
        row = await self._db.fetch_one(
            "SELECT * FROM notifications WHERE account_id = ? AND id = ?",
            (account_id, notification_id),
        )
        if row is None:
            return None
        return NotificationRow.from_row(row)

    async def feed_recipients(
        self, author_id: int, *, mentioned: Sequence[int], followers: bool
    ) -> list[int]:
        """Local accounts whose home feeds a status of `author_id` enters: the given
        mentioned local accounts, and its accepted local followers when `followers`,
        minus those who block the author (one read), in id order."""
        rows = await self._db.fetch_all(
            """
            WITH r(id) AS (
              SELECT f.account_id FROM follows f JOIN accounts a ON a.id = f.account_id
              WHERE :followers AND f.target_account_id = :author AND f.state = 'accepted'
                AND a.domain IS NULL
              UNION SELECT value FROM json_each(:mentioned)
            )
            SELECT id FROM r WHERE NOT EXISTS (
              SELECT 1 FROM blocks b WHERE b.account_id = r.id AND b.target_account_id = :author)
            ORDER BY id
            """,
            {
                "author": author_id,
                "followers": int(followers),
                "mentioned": json.dumps(list(mentioned)),
            },
        )
        return [int(row[0]) for row in rows]
