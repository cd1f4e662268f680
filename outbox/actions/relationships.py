"""Relationships: follow and unfollow, answer a follow request, block and unblock."""

from __future__ import annotations

from fedserver.db import AccountRow
from fedserver.errors import Forbidden, NotFound, UnprocessableEntity
from outbox.build import (
    accept_activity,
    block_activity,
    follow_activity,
    reject_activity,
    undo_activity,
)
from outbox.context import OutboxContext
from outbox.delivery import plan_inboxes


async def follow(ctx: OutboxContext, follower: AccountRow, target: AccountRow) -> str:
    """Follow an account; returns the state: `accepted` or `pending` (a remote follow is
    pending until the remote's own Accept arrives, SECURITY.md checklist 15)."""
    if follower.id == target.id:
        raise UnprocessableEntity("an account cannot follow itself")
    if await ctx.store.blocks.blocks_either_way(follower.id, target.id):
        raise Forbidden("a block stands between these accounts")
    sender = await ctx._sender(follower)
    follow_id = ctx.new_id()
    activity = follow_activity(ctx.uri_of(follower), ctx.uri_of(target), follow_id)
    state = "accepted" if target.is_local and not target.manually_approves_followers else "pending"
    now = ctx.clock()
    async with ctx.store.db.transaction() as tx:
        await ctx.store.follows.add(
            tx,
            follow_id=follow_id,
            account_id=follower.id,
            target_account_id=target.id,
            uri=activity["id"],
            state=state,
            now=now,
        )
        if target.is_local:
            await ctx.store.notifications.add(
                tx,
                notification_id=ctx.new_id(),
                account_id=target.id,
                from_account_id=follower.id,
                kind="follow" if state == "accepted" else "follow_request",
                status_id=None,
                now=now,
            )
        else:
            await ctx._queue(tx, sender, activity, plan_inboxes([(target.inbox_url, None)]))
    ctx.wake_delivery()
    follow = await ctx.store.follows.get(follower.id, target.id)
    return follow.state if follow else state


async def unfollow(ctx: OutboxContext, follower: AccountRow, target: AccountRow) -> None:
    follow = await ctx.store.follows.get(follower.id, target.id)
    if follow is None:
        raise NotFound("not following that account")
    sender = await ctx._sender(follower)
    async with ctx.store.db.transaction() as tx:
        await ctx.store.follows.remove(tx, follow.id)
        if not target.is_local:
            original = {
                "id": follow.uri,
                "type": "Follow",
                "actor": ctx.uri_of(follower),
                "object": ctx.uri_of(target),
            }
            undo = undo_activity(ctx.uri_of(follower), original, ctx.new_id())
            await ctx._queue(tx, sender, undo, plan_inboxes([(target.inbox_url, None)]))
    ctx.wake_delivery()


async def answer_follow_request(
    ctx: OutboxContext, target: AccountRow, follower: AccountRow, *, accept: bool
) -> None:
    follow = await ctx.store.follows.get(follower.id, target.id)
    if follow is None:
        raise NotFound("no follow request from that account")
    sender = await ctx._sender(target)
    async with ctx.store.db.transaction() as tx:
        if accept:
            await ctx.store.follows.accept(tx, follow.id)
        else:
            await ctx.store.follows.remove(tx, follow.id)
        await ctx.store.notifications.remove(
            tx,
            account_id=target.id,
            from_account_id=follower.id,
            kind="follow_request",
            status_id=None,
        )
        if not follower.is_local:
            original = {
                "id": follow.uri,
                "type": "Follow",
                "actor": ctx.uri_of(follower),
                "object": ctx.uri_of(target),
            }
            build = accept_activity if accept else reject_activity
            await ctx._queue(
                tx,
                sender,
                build(ctx.uri_of(target), original, ctx.new_id()),
                plan_inboxes([(follower.inbox_url, None)]),
            )
    ctx.wake_delivery()


async def block(ctx: OutboxContext, account: AccountRow, target: AccountRow) -> None:
    sender = await ctx._sender(account)
    block_id = ctx.new_id()
    activity = block_activity(ctx.uri_of(account), ctx.uri_of(target), block_id)
    async with ctx.store.db.transaction() as tx:
        await ctx.store.blocks.add(
            tx,
            block_id=block_id,
            account_id=account.id,
            target_account_id=target.id,
            uri=activity["id"],
            now=ctx.clock(),
        )
        await ctx.store.follows.remove_between(tx, account.id, target.id)
        if not target.is_local:
            await ctx._queue(tx, sender, activity, plan_inboxes([(target.inbox_url, None)]))
    ctx.wake_delivery()


async def unblock(ctx: OutboxContext, account: AccountRow, target: AccountRow) -> None:
    found = await ctx.store.blocks.get(account.id, target.id)
    if found is None:
        raise NotFound("that account is not blocked")
    block_id, block_uri = found
    sender = await ctx._sender(account)
    async with ctx.store.db.transaction() as tx:
        await ctx.store.blocks.remove(tx, block_id)
        if not target.is_local:
            original = {
                "id": block_uri,
                "type": "Block",
                "actor": ctx.uri_of(account),
                "object": ctx.uri_of(target),
            }
            undo = undo_activity(ctx.uri_of(account), original, ctx.new_id())
            await ctx._queue(tx, sender, undo, plan_inboxes([(target.inbox_url, None)]))
    ctx.wake_delivery()
