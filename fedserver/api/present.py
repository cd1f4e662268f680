"""Rows → entities, with what each needs loaded (counts, mentions, viewer flags).

One `Presenter` per request: it knows the viewer (for `favourited` and friends) and
caches accounts it has rendered, so a timeline of one person's posts renders the
account once.
"""

from __future__ import annotations

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
        cached = self._accounts.get(account.id)
        if cached is not None:
            return cached
        store = self.store
        counts = AccountCounts(
            statuses=await store.statuses.count_by_account(account.id),
            followers=await store.follows.count_followers(account.id),
            following=await store.follows.count_following(account.id),
            last_status_at=await store.statuses.last_status_at(account.id),
        )
        moved = None
        if account.moved_to_uri:
            target = await store.remote_accounts.by_uri(account.moved_to_uri)
            if target is not None and target.id != account.id:
                moved = await self.account(target)
        entity = account_entity(
            account,
            acct=self.acct(account),
            uri=self.uri(account),
            url=self.profile_url(account),
            counts=counts,
            default_avatar=f"{self.urls.base_url}/static/avatar.png",
            default_header=f"{self.urls.base_url}/static/header.png",
            moved=moved,
        )
        self._accounts[account.id] = entity
        return entity

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
        account = await self.store.accounts.by_id(account_id)
        if account is None:
            raise NotFound("Record not found")
        return await self.account(account)

    async def accounts(self, accounts: list[AccountRow]) -> list[dict[str, Any]]:
        return [await self.account(a) for a in accounts]

    # -- statuses ----------------------------------------------------------------------

    async def status(self, status: StatusRow) -> dict[str, Any]:
        author = await self.store.accounts.by_id(status.account_id)
        if author is None:
            raise NotFound("Record not found")
        reblog = None
        if status.reblog_of_id is not None:
            original = await self.store.statuses.by_id(status.reblog_of_id)
            if original is None:
                raise NotFound("Record not found")
            reblog = await self.status(original)
        parts = await self.store.statuses.parts(status.id)
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
            for row in await self.store.statuses.media(status.id)
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
            account=await self.account(author),
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
            counts=await self.store.statuses.counts(status.id),
            viewer=await self._flags(status),
        )

    async def _flags(self, status: StatusRow) -> ViewerFlags | None:
        viewer = self.viewer
        if viewer is None:
            return None
        store = self.store
        target = status.reblog_of_id or status.id
        return ViewerFlags(
            favourited=await store.favourites.get(viewer.id, target) is not None,
            reblogged=await store.statuses.reblog_by(viewer.id, target) is not None,
            bookmarked=await store.bookmarks.has(viewer.id, target),
            muted=False,
            pinned=target in await store.pins.status_ids(viewer.id),
        )

    async def statuses(self, statuses: list[StatusRow]) -> list[dict[str, Any]]:
        rendered = []
        for status in statuses:
            try:
                rendered.append(await self.status(status))
            except NotFound:
                continue  # a boost of something deleted in the meantime
        return rendered

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
        status = None
        if row.status_id is not None:
            found = await self.store.statuses.by_id(row.status_id)
            if found is not None and found.deleted_at is None:
                status = await self.status(found)
        return notification_entity(
            row.id, row.type, row.created_at, await self.account_by_id(row.from_account_id), status
        )
