"""Like and Announce, and their Undo (SECURITY.md R5, checklist 9, 13-14): an Announce's
object is taken embedded only from its own author, otherwise fetched by id; only public
and unlisted posts may be boosted by others; nobody reacts to the posts of an account
that blocks them; only the actor undoes its own reaction."""

from __future__ import annotations

from typing import Any

from fedserver.activitystreams import get_id
from fedserver.db import AccountRow, NewStatus
from inbox.context import InboxContext
from inbox.objects import parse_note, parse_time
from inbox.statuses import fetch_status, same_origin, store_note

Outcome = str | None


async def handle_like(ctx: InboxContext, activity: dict[str, Any], actor: AccountRow) -> Outcome:
    status_uri = get_id(activity.get("object"))
    status = await ctx.store.statuses.by_uri(status_uri) if status_uri else None
    if status is None and status_uri and status_uri.startswith(ctx.urls.base_url + "/"):
        status = await fetch_status(ctx, status_uri)
    if status is None:
        return "Like of a status we do not have"
    if (
        status.visibility == "direct"
        and actor.id not in await ctx.store.statuses.mentioned_account_ids(status.id)
    ):
        return "Like of a direct status the actor cannot see"
    author = await ctx.store.accounts.by_id(status.account_id)
    if author is not None and await ctx.store.blocks.is_blocked(author.id, actor.id):
        return "Like of a status whose author blocks the actor"
    async with ctx.store.db.transaction() as tx:
        added = await ctx.store.favourites.add(
            tx,
            fav_id=ctx.new_id(),
            account_id=actor.id,
            status_id=status.id,
            uri=activity["id"],
            now=ctx.now,
        )
        if added and author is not None and author.is_local:
            await ctx.store.notifications.add(
                tx,
                notification_id=ctx.new_id(),
                account_id=author.id,
                from_account_id=actor.id,
                kind="favourite",
                status_id=status.id,
                now=ctx.now,
            )
    return None


async def handle_announce(
    ctx: InboxContext, activity: dict[str, Any], actor: AccountRow
) -> Outcome:
    obj = activity.get("object")
    object_uri = get_id(obj)
    if object_uri is None:
        return "Announce without an object"
    actor_uri = ctx.actor_uri(actor)
    if (
        isinstance(obj, dict)
        and get_id(obj.get("attributedTo")) == actor_uri
        and same_origin(object_uri, actor_uri)
    ):
        original = await store_note(ctx, parse_note(obj), actor)  # a self-boost, embedded
    else:
        original = await fetch_status(ctx, object_uri)
    if original is None:
        return "Announce of a status its origin does not confirm"
    if original.account_id != actor.id and original.visibility not in ("public", "unlisted"):
        return "Announce of a followers-only or direct status by someone else"
    if await ctx.store.statuses.reblog_by(actor.id, original.id) is not None:
        return None  # the same boost again (TestAnnounceTwice in GoToSocial)
    author = await ctx.store.accounts.by_id(original.account_id)
    if author is not None and await ctx.store.blocks.is_blocked(author.id, actor.id):
        return "Announce of a status whose author blocks the actor"
    reblog_id = ctx.new_id()
    feed = [
        account_id
        for account_id in await ctx.store.follows.local_follower_ids(actor.id)
        if not await ctx.store.blocks.is_blocked(account_id, actor.id)
    ]
    async with ctx.store.db.transaction() as tx:
        inserted = await ctx.store.statuses.insert(
            tx,
            NewStatus(
                id=reblog_id,
                account_id=actor.id,
                uri=activity["id"],
                url=None,
                content="",
                spoiler_text="",
                # A self-boost of a followers-only post stays followers-only.
                visibility="private" if original.visibility == "private" else "public",
                sensitive=False,
                language=None,
                created_at=parse_time(activity.get("published")) or ctx.now,
                reblog_of_id=original.id,
            ),
        )
        if not inserted:
            return None
        await ctx.store.statuses.add_to_feeds(tx, reblog_id, feed)
        if author is not None and author.is_local:
            await ctx.store.notifications.add(
                tx,
                notification_id=ctx.new_id(),
                account_id=author.id,
                from_account_id=actor.id,
                kind="reblog",
                status_id=original.id,
                now=ctx.now,
            )
    return None


async def handle_undo_like(ctx: InboxContext, obj: Any, actor: AccountRow) -> Outcome:
    like_uri = get_id(obj)
    found = await ctx.store.favourites.by_uri(like_uri) if like_uri else None
    if found is None and isinstance(obj, dict):
        # Some peers embed a Like whose id we did not keep: match by actor and object.
        status_uri = get_id(obj.get("object"))
        status = await ctx.store.statuses.by_uri(status_uri) if status_uri else None
        if status is None and status_uri:
            status = (
                await fetch_status(ctx, status_uri)
                if status_uri.startswith(ctx.urls.base_url)
                else None
            )
        own = await ctx.store.favourites.get(actor.id, status.id) if status else None
        found = (own[0], actor.id, status.id) if own and status else None
    if found is None or found[1] != actor.id:
        return "Undo of a Like this actor did not make"
    fav_id, _, status_id = found
    status = await ctx.store.statuses.by_id(status_id)
    async with ctx.store.db.transaction() as tx:
        await ctx.store.favourites.remove(tx, fav_id)
        if status is not None:
            await ctx.store.notifications.remove(
                tx,
                account_id=status.account_id,
                from_account_id=actor.id,
                kind="favourite",
                status_id=status_id,
            )
    return None


async def handle_undo_announce(ctx: InboxContext, obj: Any, actor: AccountRow) -> Outcome:
    announce_uri = get_id(obj)
    reblog = await ctx.store.statuses.by_uri(announce_uri) if announce_uri else None
    if reblog is None or reblog.reblog_of_id is None or reblog.account_id != actor.id:
        return "Undo of an Announce this actor did not make"
    original = await ctx.store.statuses.by_id(reblog.reblog_of_id)
    async with ctx.store.db.transaction() as tx:
        await ctx.store.statuses.delete(tx, reblog.id)
        if original is not None:
            await ctx.store.notifications.remove(
                tx,
                account_id=original.account_id,
                from_account_id=actor.id,
                kind="reblog",
                status_id=original.id,
            )
    return None
