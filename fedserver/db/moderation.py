"""Reports (Flag), domain blocks, and delete markers (tombstones)."""

from __future__ import annotations

import json
from datetime import datetime

from fedserver.db.database import Database, Transaction
from fedserver.ids import isoformat


class Reports:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        tx: Transaction,
        *,
        report_id: int,
        uri: str | None,
        account_id: int,
        target_account_id: int,
        status_ids: list[int],
        comment: str,
        now: datetime,
    ) -> bool:
        return await tx.insert(
            "INSERT INTO reports (id, uri, account_id, target_account_id, status_ids,"
            " comment, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                report_id,
                uri,
                account_id,
                target_account_id,
                json.dumps(status_ids),
                comment,
                isoformat(now),
            ),
        )

    async def open_reports(self) -> list[tuple[int, int, int, str]]:
        """(id, reporter account id, target account id, comment), newest first."""
        rows = await self._db.fetch_all(
            "SELECT id, account_id, target_account_id, comment FROM reports"
            " WHERE resolved_at IS NULL ORDER BY id DESC"
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]


class DomainBlocks:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, domain: str, reason: str, now: datetime) -> bool:
        async with self._db.transaction() as tx:
            return await tx.insert(
                "INSERT INTO domain_blocks (domain, reason, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (domain, reason, isoformat(now)),
            )

    async def remove(self, domain: str) -> bool:
        async with self._db.transaction() as tx:
            return await tx.execute("DELETE FROM domain_blocks WHERE domain = ?", (domain,)) > 0

    async def all(self) -> list[tuple[str, str]]:
        rows = await self._db.fetch_all("SELECT domain, reason FROM domain_blocks ORDER BY domain")
        return [(row[0], row[1]) for row in rows]


class Tombstones:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self, tx: Transaction, uri: str, actor_uri: str, now: datetime, *, owner: bool = False
    ) -> None:
        """Mark `uri` deleted by `actor_uri`. `owner`: the deleter is known to own it (a
        stored status it deleted), so its mark replaces an earlier unverified one; a
        Delete of an unknown object keeps whichever mark came first."""
        await tx.execute(
            "INSERT INTO tombstones (uri, actor_uri, deleted_at) VALUES (?, ?, ?)"
            + (
                " ON CONFLICT (uri) DO UPDATE SET actor_uri = excluded.actor_uri,"
                " deleted_at = excluded.deleted_at"
                if owner
                else " ON CONFLICT DO NOTHING"
            ),
            (uri, actor_uri, isoformat(now)),
        )

    async def exists(self, uri: str, *, by: str | None = None) -> bool:
        """Whether `uri` was deleted; with `by`, deleted by that actor. Only the author's
        own Delete may keep its object out (Mastodon keys its delete-upon-arrival
        marker by the deleting account): anyone else's must not suppress the author's
        Create."""
        if by is None:
            found = await self._db.fetch_value("SELECT 1 FROM tombstones WHERE uri = ?", (uri,))
        else:
            found = await self._db.fetch_value(
                "SELECT 1 FROM tombstones WHERE uri = ? AND actor_uri = ?", (uri, by)
            )
        return bool(found)
