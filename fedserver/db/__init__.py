"""The data layer: the only package that holds SQL.

`Store` bundles the gateway (`Database`) with one small repository per domain area;
handlers and workers call `store.accounts.local_user(...)`, never SQL.
"""

from __future__ import annotations

from pathlib import Path

from fedserver.db.accounts import Accounts
from fedserver.db.collections import Follows, Statuses
from fedserver.db.database import Database
from fedserver.db.inbox import Inbox, InboxItem
from fedserver.db.rows import (
    AccountRow,
    CollectionItem,
    KeyPairRow,
    LocalUser,
    ProfileField,
    StatusRow,
    UsageStats,
    UserRow,
)

__all__ = [
    "AccountRow",
    "CollectionItem",
    "Database",
    "Inbox",
    "InboxItem",
    "KeyPairRow",
    "LocalUser",
    "ProfileField",
    "StatusRow",
    "Store",
    "UsageStats",
    "UserRow",
]


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.accounts = Accounts(db)
        self.follows = Follows(db)
        self.statuses = Statuses(db)
        self.inbox = Inbox(db)

    @classmethod
    async def open(cls, path: Path) -> Store:
        return cls(await Database.open(path))

    async def migrate(self) -> list[str]:
        return await self.db.migrate()

    async def close(self) -> None:
        await self.db.close()
