"""Rows → entities, with what each needs loaded (counts, mentions, viewer flags).

One `Presenter` per request: it knows the viewer (for `favourited` and friends) and
caches accounts it has rendered, so a timeline of one person's posts renders the
account once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from fedserver.api.entities import (
    AccountCounts,
    ViewerFlags,
    account_entity,
    api_time,
    credential_source,
    emoji_entity,
    media_entity,
    mention_entity,
    notification_entity,
    plain_text,
    relationship_entity,
    role_entity,
    status_entity,
    tag_entity,
)
from fedserver.appkeys import clock_key, config_key, store_key
from fedserver.db import AccountRow, LocalUser, NotificationRow, StatusRow, Store
from fedserver.db.database import Row
from fedserver.db.statuses import StatusParts
from fedserver.errors import NotFound
from fedserver.urls import LocalUrls


def presenter_for(request: web.Request, viewer: AccountRow | None) -> Presenter:
    """The request's presenter, seen by `viewer` (None: anonymous)."""
    app = request.app
    config = app[config_key]
    urls = LocalUrls(config.base_url)
    return Presenter(app[store_key], urls, config.domain, viewer, app[clock_key]())


class Presenter:
    def __init__(
        self, store: Store, urls: LocalUrls, domain: str, viewer: AccountRow | None, now: datetime
    ) -> None:
        self.store = store
        self.urls = urls
        self.domain = domain
        self.viewer = viewer
        self.now = now
        self._accounts: dict[int, dict[str, Any]] = {}

    # -- accounts ----------------------------------------------------------------------

    def acct(self, account: AccountRow) -> str:
        return account.acct

    def uri(self, account: AccountRow) -> str:
        return self.urls.account_uri(account.username, account.domain, account.uri)

    def profile_url(self, account: AccountRow) -> str:
        if account.is_local:
            return self.urls.profile_page(account.username)
        return account.url or self.uri(account)

    async def account(self, account: AccountRow) -> dict[str, Any]:
        await self._load_accounts([account])
        return self._accounts[account.id]

    async def _load_accounts(
        self,
        accounts: list[AccountRow],
        counts: dict[int, tuple[int, int, int, datetime | None]] | None = None,
    ) -> None:
        """Render and cache the accounts not rendered yet, with the accounts they moved to:
        one query for the move targets per step of a chain of moves (none if nobody
        moved), then one for the counts of them all."""
        pending: dict[int, AccountRow] = {}
        for account in accounts:
            if account.id not in self._accounts:
                pending.setdefault(account.id, account)
        if not pending:
            return
        store = self.store
        targets: dict[str, AccountRow] = {}
        asked: set[str] = set()
        frontier = list(pending.values())
        while uris := {a.moved_to_uri for a in frontier if a.moved_to_uri} - asked:
            asked |= uris
            found = await store.remote_accounts.by_uris(uris)
            targets.update(found)
            frontier = []
            for target in found.values():
                if target.id not in self._accounts and target.id not in pending:
                    pending[target.id] = target
                    frontier.append(target)
        counts = dict(counts or {})
        if missing := [account_id for account_id in pending if account_id not in counts]:
            counts.update(await store.accounts.counts_for(missing))

        def render(account: AccountRow, stack: frozenset[int]) -> dict[str, Any]:
            cached = self._accounts.get(account.id)
            if cached is not None:
                return cached
            moved = None
            target = targets.get(account.moved_to_uri) if account.moved_to_uri else None
            if target is not None and target.id != account.id:
                if target.id in self._accounts:
                    moved = self._accounts[target.id]
                elif target.id in pending and target.id not in stack:
                    # (A cycle of moves stops: the old per-account code never ended.)
                    moved = render(pending[target.id], stack | {account.id})
            statuses, followers, following, last_status_at = counts[account.id]
            entity = account_entity(
                account,
                acct=self.acct(account),
                uri=self.uri(account),
                url=self.profile_url(account),
                counts=AccountCounts(
                    statuses=statuses,
                    followers=followers,
                    following=following,
                    last_status_at=last_status_at,
                ),
                default_avatar=f"{self.urls.base_url}/static/avatar.png",
                default_header=f"{self.urls.base_url}/static/header.png",
                moved=moved,
            )
            self._accounts[account.id] = entity
            return entity

        for account in list(pending.values()):
            render(account, frozenset())

    async def credential_account(self, user: LocalUser) -> dict[str, Any]:
        """The user's own Account with `source` (what update_credentials edits) and `role`."""
        account = user.account
        entity = dict(await self.account(account))
        entity["source"] = credential_source(
            note=plain_text(account.summary),
            fields=[{"name": f.name, "value": plain_text(f.value)} for f in account.fields],
            privacy=user.user.default_visibility,
            sensitive=user.user.default_sensitive,
            language=user.user.default_language,
            follow_requests_count=await self.store.follows.count_requests(account.id),
            indexable=account.indexable,
            discoverable=account.discoverable,
        )
        entity["role"] = role_entity(user.user.is_admin)
        return entity

    async def account_by_id(self, account_id: int) -> dict[str, Any]:
        return (await self.accounts_by_ids([account_id]))[0]

    async def accounts_by_ids(self, account_ids: list[int]) -> list[dict[str, Any]]:
        """The accounts in this order; NotFound if any is missing."""
        found = await self.store.accounts.by_ids(account_ids)
        if any(account_id not in found for account_id in account_ids):
            raise NotFound("Record not found")
        return await self.accounts([found[account_id] for account_id in account_ids])

    async def accounts(self, accounts: list[AccountRow]) -> list[dict[str, Any]]:
        await self._load_accounts(accounts)
        return [self._accounts[a.id] for a in accounts]

    # -- statuses ----------------------------------------------------------------------
    #
    # A page is rendered from one query per kind of data for the whole page (authors,
    # boosted originals, parts, media, counts, each viewer flag), not per status: each
    # query is a trip to the database thread.

    async def status(self, status: StatusRow) -> dict[str, Any]:
        rendered = (await self._render([status]))[0]
        if rendered is None:
            raise NotFound("Record not found")
        return rendered

    async def statuses(self, statuses: list[StatusRow]) -> list[dict[str, Any]]:
        """The statuses that render, in order: a boost whose original is gone (deleted
        in the meantime) or a status whose author is gone is left out."""
        return [r for r in await self._render(statuses) if r is not None]

    async def _render(
        self, statuses: list[StatusRow], account_ids: Sequence[int] = ()
    ) -> list[dict[str, Any] | None]:
        page = await self._load(statuses, account_ids)
        return [self._status(status, page) for status in statuses]

    async def _load(self, statuses: list[StatusRow], account_ids: Sequence[int]) -> _Page:
        """Everything the statuses need, a query per kind; `account_ids`: more accounts
        to load and render (a notification's sender)."""
        store = self.store
        known = {s.id: s for s in statuses}
        wanted = {s.reblog_of_id for s in statuses if s.reblog_of_id is not None}
        originals: dict[int, StatusRow] = {}
        while missing := wanted - known.keys() - originals.keys():
            found = await store.statuses.by_ids(missing)
            originals.update(found)
            wanted = {s.reblog_of_id for s in found.values() if s.reblog_of_id is not None}
        rendered = {**originals, **known}
        ids = list(rendered)
        author_ids = {s.account_id for s in rendered.values()} | set(account_ids)
        # Asked for in the same turn of the event loop, these reads make one trip to the
        # database's thread (fedserver/db/database.py, _CoalescedReads): `gather` starts
        # its tasks at once, so the two gathers' reads are asked for together.
        reads = asyncio.gather(
            store.accounts.by_ids(author_ids),
            store.accounts.counts_for(author_ids - self._accounts.keys()),
            store.statuses.parts_for(ids),
            store.statuses.media_for(ids),
            store.statuses.counts_for(ids),
        )
        flags = self._viewer_flags({s.reblog_of_id or s.id for s in rendered.values()})
        (authors, account_counts, parts, media, counts), viewer_flags = await asyncio.gather(
            reads, flags
        )
        await self._load_accounts(list(authors.values()), account_counts)
        page = _Page(statuses=rendered, accounts=authors, parts=parts, media=media, counts=counts)
        page.favourited, page.reblogged, page.bookmarked, pinned = viewer_flags
        page.pinned = set(pinned)
        return page

    def _viewer_flags(
        self, targets: set[int]
    ) -> asyncio.Future[tuple[set[int], set[int], set[int], list[int]]]:
        """Which of `targets` the viewer favourited, boosted, bookmarked and pinned
        (nothing without a viewer), its reads started now."""
        if self.viewer is None:
            nothing: asyncio.Future[tuple[set[int], set[int], set[int], list[int]]]
            nothing = asyncio.get_running_loop().create_future()
            nothing.set_result((set(), set(), set(), []))
            return nothing
        store = self.store
        viewer_id = self.viewer.id
        return asyncio.gather(
            store.favourites.of(viewer_id, targets),
            store.statuses.reblogged_by(viewer_id, targets),
            store.bookmarks.of(viewer_id, targets),
            store.pins.status_ids(viewer_id),
        )

    def _status(
        self, status: StatusRow, page: _Page, outer: frozenset[int] = frozenset()
    ) -> dict[str, Any] | None:
        """A status from what `_load` read; None where `status()` answers NotFound."""
        author = page.accounts.get(status.account_id)
        if author is None:
            return None
        reblog = None
        if status.reblog_of_id is not None:
            original = page.statuses.get(status.reblog_of_id)
            if original is None or original.id in outer:
                return None
            reblog = self._status(original, page, outer | {status.id})
            if reblog is None:
                return None
        parts = page.parts[status.id]
        media = [
            media_entity(
                row["id"],
                row["type"],
                row["remote_url"],
                row["description"],
                row["blurhash"],
                row["width"],
                row["height"],
            )
            for row in page.media[status.id]
        ]
        uri = status.uri or (
            self.urls.status_activity(author.username, status.id)
            if status.reblog_of_id
            else self.urls.status(author.username, status.id)
        )
        url = (
            status.url
            if status.uri
            else (
                None if status.reblog_of_id else self.urls.status_page(author.username, status.id)
            )
        )
        return status_entity(
            status,
            account=self._accounts[author.id],
            uri=uri,
            url=url if not status.reblog_of_id else None,
            reblog=reblog,
            mentions=[
                mention_entity(
                    account_id,
                    username,
                    username if domain is None else f"{username}@{domain}",
                    self.urls.profile_page(username) if domain is None else (uri_ or ""),
                )
                for account_id, username, domain, uri_ in parts.mentions
            ],
            tags=[tag_entity(name, self.urls.base_url) for name in parts.tags],
            emojis=[emoji_entity(code, image) for code, image in parts.emojis],
            media=media,
            counts=page.counts[status.id],
            viewer=self._flags(status, page),
        )

    def _flags(self, status: StatusRow, page: _Page) -> ViewerFlags | None:
        if self.viewer is None:
            return None
        target = status.reblog_of_id or status.id
        return ViewerFlags(
            favourited=target in page.favourited,
            reblogged=target in page.reblogged,
            bookmarked=target in page.bookmarked,
            muted=False,
            pinned=target in page.pinned,
        )

    # -- relationships and notifications ----------------------------------------------

    async def relationship(self, target: AccountRow) -> dict[str, Any]:
        viewer = self.viewer
        if viewer is None:
            raise NotFound("Record not found")
        store = self.store
        mine = await store.follows.get(viewer.id, target.id)
        theirs = await store.follows.get(target.id, viewer.id)
        muted = await store.mutes.get(viewer.id, target.id, self.now)
        entity = relationship_entity(
            target.id,
            following=mine is not None and mine.state == "accepted",
            showing_reblogs=mine is not None and mine.show_reblogs,
            notifying=mine is not None and mine.notify,
            followed_by=theirs is not None and theirs.state == "accepted",
            blocking=await store.blocks.is_blocked(viewer.id, target.id),
            blocked_by=await store.blocks.is_blocked(target.id, viewer.id),
            muting=muted is not None,
            muting_notifications=bool(muted),
            requested=mine is not None and mine.state == "pending",
            requested_by=theirs is not None and theirs.state == "pending",
        )
        if muted is not None:
            expires = await store.mutes.expires_at(viewer.id, target.id, self.now)
            entity["muting_expires_at"] = api_time(expires) if expires else None
        return entity

    async def notification(self, row: NotificationRow) -> dict[str, Any]:
        rendered = await self.notifications([row])
        if not rendered:
            raise NotFound("Record not found")
        return rendered[0]

    async def notifications(self, rows: list[NotificationRow]) -> list[dict[str, Any]]:
        """The notifications that render, in order: one whose sender is gone, or whose
        status does not render (see `statuses`), is left out."""
        found = await self.store.statuses.by_ids(
            {row.status_id for row in rows if row.status_id is not None}
        )
        live = [s for s in found.values() if s.deleted_at is None]
        page = await self._load(live, [row.from_account_id for row in rows])
        rendered = []
        for row in rows:
            status = None
            if row.status_id is not None:
                stored = found.get(row.status_id)
                if stored is not None and stored.deleted_at is None:
                    status = self._status(stored, page)
                    if status is None:
                        continue
            sender = page.accounts.get(row.from_account_id)
            if sender is None:
                continue
            rendered.append(
                notification_entity(
                    row.id, row.type, row.created_at, self._accounts[sender.id], status
                )
            )
        return rendered


@dataclass
class _Page:
    """What a page of statuses is rendered from (`Presenter._load`)."""

    statuses: dict[int, StatusRow]
    accounts: dict[int, AccountRow]
    parts: dict[int, StatusParts]
    media: dict[int, list[Row]]
    counts: dict[int, tuple[int, int, int]]
    favourited: set[int] = field(default_factory=set)
    reblogged: set[int] = field(default_factory=set)
    bookmarked: set[int] = field(default_factory=set)
    pinned: set[int] = field(default_factory=set)
