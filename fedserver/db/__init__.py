"""The data layer: the only package that holds SQL.

`Store` bundles the gateway (`Database`) with one small repository per domain area;
handlers and workers call `store.accounts.local_user(...)`, never SQL.
"""

from __future__ import annotations

from pathlib import Path

from fedserver.db.accounts import Accounts, RemoteAccounts
from fedserver.db.client import Bookmarks, IdempotencyKeys, Markers, Mutes
from fedserver.db.database import Database
from fedserver.db.deliveries import Deliveries
from fedserver.db.inbox import Inbox, InboxItem
from fedserver.db.moderation import DomainBlocks, Reports, Tombstones
from fedserver.db.notifications import NotificationRow, Notifications
from fedserver.db.oauth import OAuth, OAuthApp, OAuthCode, OAuthToken
from fedserver.db.retention import PruneReport, Retention, RetentionPolicy
from fedserver.db.rows import (
    AccountRow,
    CollectionItem,
    KeyPairRow,
    LocalUser,
    ProfileField,
    RemoteActor,
    StatusRow,
    UsageStats,
    UserRow,
)
from fedserver.db.social import Blocks, Favourites, FollowRow, Follows, Pins
from fedserver.db.statuses import NewAttachment, NewStatus, Statuses, StatusParts
from fedserver.db.timelines import Timelines, Window

__all__ = [
    "AccountRow",
    "CollectionItem",
    "Database",
    "FollowRow",
    "Inbox",
    "InboxItem",
    "KeyPairRow",
    "LocalUser",
    "NewAttachment",
    "NewStatus",
    "NotificationRow",
    "OAuthApp",
    "OAuthCode",
    "OAuthToken",
    "ProfileField",
    "PruneReport",
    "RemoteActor",
    "RetentionPolicy",
    "StatusParts",
    "StatusRow",
    "Store",
    "UsageStats",
    "UserRow",
    "Window",
]


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.accounts = Accounts(db)
        self.remote_accounts = RemoteAccounts(db)
        self.follows = Follows(db)
        self.statuses = Statuses(db)
        self.favourites = Favourites(db)
        self.blocks = Blocks(db)
        self.pins = Pins(db)
        self.notifications = Notifications(db)
        self.reports = Reports(db)
        self.domain_blocks = DomainBlocks(db)
        self.tombstones = Tombstones(db)
        self.inbox = Inbox(db)
        self.oauth = OAuth(db)
        self.bookmarks = Bookmarks(db)
        self.mutes = Mutes(db)
        self.markers = Markers(db)
        self.idempotency = IdempotencyKeys(db)
        self.timelines = Timelines(db)
        self.deliveries = Deliveries(db)
        self.retention = Retention(db)

    @classmethod
    async def open(cls, path: Path) -> Store:
        return cls(await Database.open(path))

    async def migrate(self) -> list[str]:
        return await self.db.migrate()

    async def close(self) -> None:
        await self.db.close()
