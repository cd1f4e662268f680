"""Reactions to a status: favourite and boost (reblog), and their undoing."""

from __future__ import annotations

from fedserver.db import AccountRow, NewStatus, StatusRow
from fedserver.errors import Forbidden, NotFound
from fedserver.ids import isoformat
from outbox.build import announce_activity, like_activity, undo_activity
from outbox.context import OutboxContext
from outbox.delivery import plan_inboxes


async def favourite(ctx: OutboxContext, account: AccountRow, status: StatusRow) -> None:
    if await ctx.store.favourites.get(account.id, status.id) is not None:
        return
    sender = await ctx._sender(account)
    author = await ctx._account(status.account_id)
    fav_id = ctx.new_id()
    like = like_activity(
        ctx.uri_of(account), await ctx.status_uri(status), ctx.uri_of(author), fav_id
    )
    async with ctx.store.db.transaction() as tx:
        await ctx.store.favourites.add(
            tx,
            fav_id=fav_id,
            account_id=account.id,
            status_id=status.id,
            uri=like["id"],
            now=ctx.clock(),
        )
        if author.is_local:
            if author.id != account.id:
                await ctx.store.notifications.add(
                    tx,
                    notification_id=ctx.new_id(),
                    account_id=author.id,
                    from_account_id=account.id,
                    kind="favourite",
                    status_id=status.id,
                    now=ctx.clock(),
                )
        else:
            await ctx._queue(tx, sender, like, plan_inboxes([(author.inbox_url, None)]))
    ctx.wake_delivery()


async def unfavourite(ctx: OutboxContext, account: AccountRow, status: StatusRow) -> None:
    found = await ctx.store.favourites.get(account.id, status.id)
    if found is None:
        return
    fav_id, like_uri = found
    sender = await ctx._sender(account)
    author = await ctx._account(status.account_id)
    async with ctx.store.db.transaction() as tx:
        await ctx.store.favourites.remove(tx, fav_id)
        await ctx.store.notifications.remove(
            tx,
            account_id=author.id,
            from_account_id=account.id,
            kind="favourite",
            status_id=status.id,
        )
        if not author.is_local:
            original = like_activity(
                ctx.uri_of(account), await ctx.status_uri(status), ctx.uri_of(author), 0
            )
            original["id"] = like_uri
            undo = undo_activity(ctx.uri_of(account), original, ctx.new_id())
            await ctx._queue(tx, sender, undo, plan_inboxes([(author.inbox_url, None)]))
    ctx.wake_delivery()


async def reblog(ctx: OutboxContext, account: AccountRow, status: StatusRow) -> StatusRow:
    """Boost a status: public and unlisted ones, or one's own (SECURITY.md checklist 14)."""
    if status.reblog_of_id is not None:
        original = await ctx.store.statuses.by_id(status.reblog_of_id)
        if original is None:
            raise NotFound("the boosted status is gone")
        status = original
    if status.account_id != account.id and status.visibility not in ("public", "unlisted"):
        raise Forbidden("only public and unlisted statuses can be boosted")
    existing = await ctx.store.statuses.reblog_by(account.id, status.id)
    if existing is not None:
        return existing
    sender = await ctx._sender(account)
    author = await ctx._account(status.account_id)
    now = ctx.clock()
    reblog_id = ctx.new_id()
    followers_only = status.visibility == "private"  # only the author boosts those
    activity = announce_activity(
        ctx.uri_of(account),
        ctx.urls.followers(account.username),
        await ctx.status_uri(status),
        ctx.uri_of(author),
        ctx.urls.status_activity(account.username, reblog_id),
        isoformat(now),
        followers_only=followers_only,
    )
    feed = {account.id, *await ctx.store.follows.local_follower_ids(account.id)}
    recipients = await ctx._follower_inboxes(account)
    if not author.is_local:
        recipients.append((author.inbox_url, author.shared_inbox_url))
    async with ctx.store.db.transaction() as tx:
        await ctx.store.statuses.insert(
            tx,
            NewStatus(
                id=reblog_id,
                account_id=account.id,
                uri=None,
                url=None,
                content="",
                spoiler_text="",
                visibility="private" if followers_only else "public",
                sensitive=False,
                language=None,
                created_at=now,
                reblog_of_id=status.id,
            ),
        )
        await ctx.store.statuses.add_to_feeds(tx, reblog_id, sorted(feed))
        if author.is_local and author.id != account.id:
            await ctx.store.notifications.add(
                tx,
                notification_id=ctx.new_id(),
                account_id=author.id,
                from_account_id=account.id,
                kind="reblog",
                status_id=status.id,
                now=now,
            )
        await ctx._queue(tx, sender, activity, plan_inboxes(recipients), reblog_id)
    ctx.wake_delivery()
    reblog = await ctx.store.statuses.by_id(reblog_id)
    assert reblog is not None
    return reblog


async def unreblog(ctx: OutboxContext, account: AccountRow, status: StatusRow) -> None:
    reblog = await ctx.store.statuses.reblog_by(account.id, status.id)
    if reblog is None:
        return
    sender = await ctx._sender(account)
    author = await ctx._account(status.account_id)
    original = announce_activity(
        ctx.uri_of(account),
        ctx.urls.followers(account.username),
        await ctx.status_uri(status),
        ctx.uri_of(author),
        ctx.urls.status_activity(account.username, reblog.id),
        isoformat(reblog.created_at),
        followers_only=reblog.visibility == "private",
    )
    recipients = await ctx._follower_inboxes(account)
    if not author.is_local:
        recipients.append((author.inbox_url, author.shared_inbox_url))
    async with ctx.store.db.transaction() as tx:
        await ctx.store.statuses.delete(tx, reblog.id)
        await ctx.store.notifications.remove(
            tx,
            account_id=author.id,
            from_account_id=account.id,
            kind="reblog",
            status_id=status.id,
        )
        undo = undo_activity(ctx.uri_of(account), original, ctx.new_id())
        await ctx._queue(tx, sender, undo, plan_inboxes(recipients))
    ctx.wake_delivery()
