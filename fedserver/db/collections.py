"""Followers, following and statuses as pages: counts and id-cursor slices."""

from __future__ import annotations

from fedserver.db.database import MAX_ID, Database
from fedserver.db.rows import CollectionItem, StatusRow

# Visibilities anyone may see; the outbox and the public profile page show only these.
PUBLIC_VISIBILITIES = ("public", "unlisted")


class Follows:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def count_followers(self, account_id: int) -> int:
        return int(
            await self._db.fetch_value(
                "SELECT count(*) FROM follows WHERE target_account_id = ? AND state = 'accepted'",
                (account_id,),
            )
        )

    async def count_following(self, account_id: int) -> int:
        return int(
            await self._db.fetch_value(
                "SELECT count(*) FROM follows WHERE account_id = ? AND state = 'accepted'",
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


class Statuses:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def count_by_account(self, account_id: int) -> int:
        return int(
            await self._db.fetch_value(
                "SELECT count(*) FROM statuses WHERE account_id = ? AND deleted_at IS NULL",
                (account_id,),
            )
        )

    async def public_by_account(
        self, account_id: int, *, before: int | None, limit: int
    ) -> list[StatusRow]:
        """Public and unlisted statuses and boosts of one account, newest first."""
        rows = await self._db.fetch_all(
            """
            SELECT * FROM statuses
            WHERE account_id = ? AND deleted_at IS NULL AND id < ?
              AND visibility IN (?, ?)
            ORDER BY id DESC LIMIT ?
            """,
            (
                account_id,
                MAX_ID if before is None else before,
                *PUBLIC_VISIBILITIES,
                limit,
            ),
        )
        return [StatusRow.from_row(row) for row in rows]
