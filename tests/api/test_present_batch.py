"""The presenter renders a page from one query per kind of data (fedserver/api/present.py).

The JSON must be exactly what rendering one status at a time gave: `NaivePresenter`
keeps that per-status code (as present.py had it before the batching), and a varied page
(boosts, replies, mentions, tags, emoji, media, a poll, a moved account, the viewer's
favourites, boosts, bookmarks and pins, a boost of a deleted status, a boost of a status
that is gone) is rendered both ways and compared byte for byte.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from fedserver.api.entities import (
    AccountCounts,
    ViewerFlags,
    account_entity,
    emoji_entity,
    media_entity,
    mention_entity,
    notification_entity,
    status_entity,
    tag_entity,
)
from fedserver.api.present import Presenter
from fedserver.appkeys import clock_key, config_key, ids_key, store_key
from fedserver.db import AccountRow, NotificationRow, StatusRow, Store
from fedserver.db import database as database_module
from fedserver.db.statuses import NewAttachment, NewStatus
from fedserver.errors import NotFound
from fedserver.ids import isoformat
from fedserver.urls import LocalUrls
from tests.conftest import Client, CreateUser, Rows


class NaivePresenter(Presenter):
    """The per-status rendering the batched code replaced (a few queries per status)."""

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

    async def accounts(self, accounts: list[AccountRow]) -> list[dict[str, Any]]:
        return [await self.account(a) for a in accounts]

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
            viewer=await self._naive_flags(status),
        )

    async def _naive_flags(self, status: StatusRow) -> ViewerFlags | None:
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
                continue
        return rendered

    async def notification(self, row: NotificationRow) -> dict[str, Any]:
        status = None
        if row.status_id is not None:
            found = await self.store.statuses.by_id(row.status_id)
            if found is not None and found.deleted_at is None:
                status = await self.status(found)
        return notification_entity(
            row.id, row.type, row.created_at, await self.account_by_id(row.from_account_id), status
        )

    async def notifications(self, rows: list[NotificationRow]) -> list[dict[str, Any]]:
        rendered = []
        for row in rows:
            try:
                rendered.append(await self.notification(row))
            except NotFound:
                continue
        return rendered


@contextmanager
def counting_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every trip to aiosqlite's thread for reads made inside the block: a read on its
    own, or several asked for at once (fedserver/db/database.py, _CoalescedReads)."""
    trips: list[str] = []
    real = database_module._fetch_all
    real_batch = database_module._fetch_batch

    async def counted(connection: Any, sql: str, params: Any) -> list[Any]:
        trips.append(sql)
        return await real(connection, sql, params)

    async def counted_batch(connection: Any, statements: list[tuple[str, Any]]) -> list[Any]:
        trips.append(" ; ".join(sql for sql, _ in statements))
        return await real_batch(connection, statements)

    monkeypatch.setattr(database_module, "_fetch_all", counted)
    monkeypatch.setattr(database_module, "_fetch_batch", counted_batch)
    try:
        yield trips
    finally:
        monkeypatch.setattr(database_module, "_fetch_all", real)
        monkeypatch.setattr(database_module, "_fetch_batch", real_batch)


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class Page:
    def __init__(self, client: Client) -> None:
        app = client.app
        self.store: Store = app[store_key]
        self.new_id = app[ids_key]
        self.clock = app[clock_key]
        config = app[config_key]
        self.urls = LocalUrls(config.base_url)
        self.domain = config.domain
        self.moment = self.clock()

    def presenter(self, cls: type[Presenter], viewer: AccountRow | None) -> Presenter:
        return cls(self.store, self.urls, self.domain, viewer, self.clock())

    async def status(self, account_id: int, **fields: Any) -> int:
        self.moment += timedelta(seconds=7)
        status_id = self.new_id()
        new = NewStatus(
            id=status_id,
            account_id=account_id,
            uri=fields.pop("uri", None),
            url=fields.pop("url", None),
            content=fields.pop("content", f"<p>status {status_id}</p>"),
            spoiler_text=fields.pop("spoiler_text", ""),
            visibility=fields.pop("visibility", "public"),
            sensitive=fields.pop("sensitive", False),
            language=fields.pop("language", "en"),
            created_at=self.moment,
            **fields,
        )
        async with self.store.db.transaction() as tx:
            assert await self.store.statuses.insert(tx, new)
        return status_id

    async def execute(self, sql: str, *params: Any) -> None:
        async with self.store.db.transaction() as tx:
            await tx.execute(sql, params)


async def test_a_varied_page_renders_as_it_did_one_status_at_a_time(
    app_client: Client, make_user: CreateUser, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = Page(app_client)
    store = page.store
    alice = await make_user("alice")
    bob = await make_user("bob")
    me, them = alice.account.id, bob.account.id
    carol = await rows.remote_account("carol", "remote.test")
    dave = await rows.remote_account("dave", "other.test")
    eve = await rows.remote_account("eve", "remote.test")
    await rows.update_account(
        eve, moved_to_uri="https://remote.test/users/carol", display_name="Eve"
    )
    await rows.update_account(carol, avatar_url="https://remote.test/a.png", bot=True)
    for follower, target in [(me, them), (me, carol), (carol, me), (dave, them), (eve, me)]:
        await rows.follow(follower, target)
    await rows.follow(dave, me, state="pending")

    first = await page.status(
        them,
        mention_account_ids=(me, carol),
        tags=("zebra", "apple"),
        emojis=(("wave", "https://local.test/e/wave.png"), ("blob", "https://x.test/b.png")),
        attachments=(
            NewAttachment(
                page.new_id(),
                "image",
                "https://x.test/1.png",
                "image/png",
                "a cat",
                "LKO2?U%2Tw=w",
                640,
                480,
            ),
            NewAttachment(
                page.new_id(), "video", "https://x.test/2.mp4", "video/mp4", "", None, None, None
            ),
        ),
        poll={"options": [{"title": "yes", "votes": 3}, {"title": "no", "votes": 1}]},
    )
    reply = await page.status(
        carol,
        uri="https://remote.test/users/carol/statuses/1",
        url="https://remote.test/@carol/1",
        in_reply_to_id=first,
        in_reply_to_account_id=them,
        mention_account_ids=(them,),
        spoiler_text="cw",
        sensitive=True,
        edited_at=page.moment + timedelta(minutes=1),
    )
    my_boost = await page.status(me, reblog_of_id=first, content="")
    their_boost = await page.status(
        dave, reblog_of_id=reply, content="", uri="https://other.test/users/dave/boosts/1"
    )
    moved_post = await page.status(eve, uri="https://remote.test/users/eve/statuses/9")
    mine = await page.status(me, visibility="private", tags=("apple",))
    gone = await page.status(dave, uri="https://other.test/users/dave/statuses/2")
    boost_of_deleted = await page.status(them, reblog_of_id=gone, content="")
    await page.execute(
        "UPDATE statuses SET deleted_at = ? WHERE id = ?", isoformat(page.moment), gone
    )
    direct = await page.status(them, visibility="direct", mention_account_ids=(me,))
    stamp = isoformat(page.moment)
    for fav_id, account_id, status_id in [
        (page.new_id(), me, first),
        (page.new_id(), me, reply),
        (page.new_id(), carol, first),
        (page.new_id(), dave, first),
    ]:
        await page.execute(
            "INSERT INTO favourites (id, account_id, status_id, created_at) VALUES (?, ?, ?, ?)",
            fav_id,
            account_id,
            status_id,
            stamp,
        )
    await store.bookmarks.add(page.new_id(), me, reply, page.moment)
    await store.bookmarks.add(page.new_id(), me, mine, page.moment)
    await store.bookmarks.add(page.new_id(), them, first, page.moment)  # not the viewer's
    async with store.db.transaction() as tx:
        await store.pins.add(tx, me, mine, page.moment)
        await store.pins.add(tx, them, first, page.moment)  # not the viewer's

    by_id = await store.statuses.by_ids(
        [first, reply, my_boost, their_boost, moved_post, mine, boost_of_deleted, direct]
    )
    statuses = [by_id[i] for i in sorted(by_id, reverse=True)]
    # A boost whose original is gone altogether (the foreign key would cascade; made
    # in memory) and one by an account that is gone: both are left out.
    statuses.insert(2, dataclasses.replace(by_id[my_boost], id=page.new_id(), reblog_of_id=1))
    statuses.insert(4, dataclasses.replace(by_id[first], id=page.new_id(), account_id=12345))
    statuses.append(by_id[first])  # the same status twice on a page

    for viewer in (alice.account, bob.account, None):
        naive = page.presenter(NaivePresenter, viewer)
        batched = page.presenter(Presenter, viewer)
        with counting_trips(monkeypatch) as naive_trips:
            expected = await naive.statuses(statuses)
        with counting_trips(monkeypatch) as trips:
            got = await batched.statuses(statuses)
        assert dump(got) == dump(expected)
        assert len(got) == len(statuses) - 2
        if viewer is not None:
            # Originals of boosts, a move target, then everything else at once.
            assert len(trips) <= 3, trips
            assert len(naive_trips) > 100
        # One status, through the same code.
        for status in statuses[:4]:
            single_naive = page.presenter(NaivePresenter, viewer)
            single = page.presenter(Presenter, viewer)
            try:
                old = dump(await single_naive.status(status))
            except NotFound:
                with pytest.raises(NotFound):
                    await single.status(status)
            else:
                assert dump(await single.status(status)) == old

    rendered = await page.presenter(Presenter, alice.account).statuses(statuses)
    flags = {
        (s["id"], s["favourited"], s["bookmarked"], s["pinned"], s["reblogged"]) for s in rendered
    }
    assert (str(first), True, False, False, True) in flags
    assert (str(reply), True, True, False, False) in flags
    assert (str(mine), False, True, True, False) in flags
    moved = next(s for s in rendered if s["id"] == str(moved_post))["account"]["moved"]
    assert moved["acct"] == "carol@remote.test"

    # Accounts, with a move among them.
    accounts = [a for a in [await store.accounts.by_id(i) for i in (eve, me, carol, dave)] if a]
    assert dump(await page.presenter(Presenter, None).accounts(accounts)) == dump(
        await page.presenter(NaivePresenter, None).accounts(accounts)
    )

    # Notifications: of a status, of a deleted one, of none, from an account that is gone.
    created = page.moment
    notifications = [
        NotificationRow(page.new_id(), me, carol, "mention", reply, created),
        NotificationRow(page.new_id(), me, dave, "favourite", gone, created),
        NotificationRow(page.new_id(), me, dave, "follow_request", None, created),
        NotificationRow(page.new_id(), me, them, "reblog", boost_of_deleted, created),
        NotificationRow(page.new_id(), me, 12345, "follow", None, created),
        NotificationRow(page.new_id(), me, them, "mention", direct, created),
    ]
    with counting_trips(monkeypatch) as trips:
        got = await page.presenter(Presenter, alice.account).notifications(notifications)
    expected = await page.presenter(NaivePresenter, alice.account).notifications(notifications)
    assert dump(got) == dump(expected)
    assert len(got) == 5
    assert len(trips) <= 12, trips
    with pytest.raises(NotFound):
        await page.presenter(Presenter, alice.account).notification(notifications[4])


async def test_long_lists_are_read_in_chunks(
    app_client: Client, make_user: CreateUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More ids than one `IN (...)` list holds: several statements, the same result."""
    monkeypatch.setattr(database_module, "IN_CHUNK", 3)
    page = Page(app_client)
    alice = await make_user("alice")
    ids = [await page.status(alice.account.id, tags=("t",)) for _ in range(8)]
    boosts = [await page.status(alice.account.id, reblog_of_id=i, content="") for i in ids]
    found = await page.store.statuses.by_ids([*ids, *boosts])
    statuses = [found[i] for i in boosts + ids]
    got = await page.presenter(Presenter, alice.account).statuses(statuses)
    expected = await page.presenter(NaivePresenter, alice.account).statuses(statuses)
    assert dump(got) == dump(expected)
    assert all(s["reblogged"] for s in got)
