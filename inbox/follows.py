"""Follow, Accept, Reject and Undo(Follow), with the authorization rules of SECURITY.md R5:
only the followed actor accepts or rejects, only the follower undoes."""

from __future__ import annotations

from typing import Any

from fedserver.activitystreams import get_id
from fedserver.db import AccountRow, FollowRow
from fedserver.errors import FedError
from fedserver.outgoing import queue_activity
from inbox.context import InboxContext
from outbox.build import accept_activity, reject_activity
from outbox.delivery import plan_inboxes

Outcome = str | None  # None: done; a string: ignored, and why


async def handle_follow(ctx: InboxContext, activity: dict[str, Any], actor: AccountRow) -> Outcome:
    target_uri = get_id(activity.get("object"))
    if target_uri is None or not ctx.actors.is_local(target_uri):
        return "Follow of an actor that is not ours"
    target = await ctx.actors.get(target_uri)
    sender = await ctx.sender(target)
    inboxes = plan_inboxes([(actor.inbox_url, None)])
    if await ctx.store.blocks.is_blocked(target.id, actor.id):
        async with ctx.store.db.transaction() as tx:
            await queue_activity(
                tx,
                ctx.store,
                activity=reject_activity(ctx.actor_uri(target), activity, ctx.new_id()),
                sender=sender,
                inboxes=inboxes,
                urls=ctx.urls,
                now=ctx.now,
                new_id=ctx.new_id,
            )
        return "Follow from an actor the target blocks: rejected"
    # A locked account gets a request to approve (Pixelfed CVE-2025-30741: nothing is
    # delivered to a follower before the approval).
    existing = await ctx.store.follows.get(actor.id, target.id)
    pending = target.manually_approves_followers and not (
        existing is not None and existing.state == "accepted"
    )
    async with ctx.store.db.transaction() as tx:
        await ctx.store.follows.add(
            tx,
            follow_id=ctx.new_id(),
            account_id=actor.id,
            target_account_id=target.id,
            uri=activity["id"],
            state="pending" if pending else "accepted",
            now=ctx.now,
        )
        await ctx.store.notifications.add(
            tx,
            notification_id=ctx.new_id(),
            account_id=target.id,
            from_account_id=actor.id,
            kind="follow_request" if pending else "follow",
            status_id=None,
            now=ctx.now,
        )
        if not pending:
            await queue_activity(
                tx,
                ctx.store,
                activity=accept_activity(ctx.actor_uri(target), activity, ctx.new_id()),
                sender=sender,
                inboxes=inboxes,
                urls=ctx.urls,
                now=ctx.now,
                new_id=ctx.new_id,
            )
    return None


async def find_our_follow(
    ctx: InboxContext, obj: Any, follower_uri: str | None, target: AccountRow
) -> FollowRow | None:
    """The follow an Accept, Reject or Undo refers to: by its id, or (when a peer
    embeds a Follow with another id) by the follower and target it names."""
    follow_uri = get_id(obj)
    follow = await ctx.store.follows.by_uri(follow_uri) if follow_uri else None
    if follow is None and isinstance(obj, dict) and follower_uri:
        try:
            follower = await ctx.actors.get(follower_uri)
        except FedError:  # an unknown follower means no follow of ours
            return None
        follow = await ctx.store.follows.get(follower.id, target.id)
    return follow


async def handle_accept(ctx: InboxContext, activity: dict[str, Any], actor: AccountRow) -> Outcome:
    obj = activity.get("object")
    follower = get_id(obj.get("actor")) if isinstance(obj, dict) else None
    follow = await find_our_follow(ctx, obj, follower, actor)
    # Only the followed actor may accept (R5): the follow's target must be the sender.
    if follow is None or follow.target_account_id != actor.id:
        return "Accept of a follow that is not ours, or not addressed to this actor"
    async with ctx.store.db.transaction() as tx:
        await ctx.store.follows.accept(tx, follow.id)
    return None


async def handle_reject(ctx: InboxContext, activity: dict[str, Any], actor: AccountRow) -> Outcome:
    obj = activity.get("object")
    follower = get_id(obj.get("actor")) if isinstance(obj, dict) else None
    follow = await find_our_follow(ctx, obj, follower, actor)
    if follow is None or follow.target_account_id != actor.id:
        return "Reject of a follow that is not ours, or not addressed to this actor"
    async with ctx.store.db.transaction() as tx:
        await ctx.store.follows.remove(tx, follow.id)
    return None


async def handle_undo_follow(ctx: InboxContext, obj: Any, actor: AccountRow) -> Outcome:
    target_uri = get_id(obj.get("object")) if isinstance(obj, dict) else None
    follow_uri = get_id(obj)
    follow = await ctx.store.follows.by_uri(follow_uri) if follow_uri else None
    if follow is None and target_uri and ctx.actors.is_local(target_uri):
        target = await ctx.actors.get(target_uri)
        follow = await ctx.store.follows.get(actor.id, target.id)
    # Only the follower undoes its own follow (R5).
    if follow is None or follow.account_id != actor.id:
        return "Undo of a follow this actor did not make"
    async with ctx.store.db.transaction() as tx:
        await ctx.store.follows.remove(tx, follow.id)
        for kind in ("follow", "follow_request"):
            await ctx.store.notifications.remove(
                tx,
                account_id=follow.target_account_id,
                from_account_id=actor.id,
                kind=kind,
                status_id=None,
            )
    return None
