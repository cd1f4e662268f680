"""Activities about accounts: Update(Person), Delete(actor), Move, Block, Undo(Block),
Flag, and Add/Remove of pinned posts (SECURITY.md R5, R6).

Profiles, keys included, are only ever taken from a fresh fetch of the actor's own id,
never from the embedded copy in an Update (R6: a key change only from an origin fetch).
"""

from __future__ import annotations

from typing import Any

from fedserver.activitystreams import as_list, get_id
from fedserver.db import AccountRow
from fedserver.errors import FedError
from fedserver.outgoing import queue_activity
from fedserver.textlimits import MAX_MENTIONS, MAX_SUMMARY_CHARS, clean_text
from inbox.context import InboxContext
from inbox.statuses import fetch_status
from outbox.build import follow_activity
from outbox.delivery import plan_inboxes

Outcome = str | None


async def handle_update_actor(
    ctx: InboxContext, activity: dict[str, Any], actor: AccountRow
) -> Outcome:
    if get_id(activity.get("object")) != ctx.actor_uri(actor):
        return "Update of another actor's profile"
    await ctx.actors.get(ctx.actor_uri(actor), refresh=True)
    return None


async def handle_delete_actor(ctx: InboxContext, actor: AccountRow) -> Outcome:
    await ctx.actors.mark_deleted(actor, ctx.now)
    return None


async def handle_move(ctx: InboxContext, activity: dict[str, Any], actor: AccountRow) -> Outcome:
    """The old account (the actor) moves to `target`, which must list it in alsoKnownAs;
    local followers of the old account then follow the new one."""
    actor_uri = ctx.actor_uri(actor)
    if get_id(activity.get("object")) != actor_uri:
        return "Move of an actor other than the sender"
    target_uri = get_id(activity.get("target"))
    if target_uri is None or target_uri == actor_uri:
        return "Move without a target other than the actor"
    target = await ctx.actors.get(target_uri, refresh=True)
    if actor_uri not in target.also_known_as:
        return "Move to an account that does not list the old one in alsoKnownAs"
    await ctx.actors.get(actor_uri, refresh=True)  # records its movedTo
    followers = await ctx.store.follows.local_follower_ids(actor.id)
    for follower_id in followers:
        follower = await ctx.store.accounts.by_id(follower_id)
        if follower is None or follower.is_deleted:
            continue
        if await ctx.store.blocks.blocks_either_way(follower.id, target.id):
            continue
        follow_id = ctx.new_id()
        follow = follow_activity(ctx.actor_uri(follower), target_uri, follow_id)
        async with ctx.store.db.transaction() as tx:
            await ctx.store.follows.add(
                tx,
                follow_id=follow_id,
                account_id=follower.id,
                target_account_id=target.id,
                uri=follow["id"],
                state="accepted" if target.is_local else "pending",
                now=ctx.now,
            )
            if not target.is_local:
                await queue_activity(
                    tx,
                    ctx.store,
                    activity=follow,
                    sender=await ctx.sender(follower),
                    inboxes=plan_inboxes([(target.inbox_url, None)]),
                    urls=ctx.urls,
                    now=ctx.now,
                    new_id=ctx.new_id,
                )
            await ctx.store.notifications.add(
                tx,
                notification_id=ctx.new_id(),
                account_id=follower.id,
                from_account_id=actor.id,
                kind="move",
                status_id=None,
                now=ctx.now,
            )
    return None


async def handle_block(ctx: InboxContext, activity: dict[str, Any], actor: AccountRow) -> Outcome:
    target_uri = get_id(activity.get("object"))
    if target_uri is None or not ctx.actors.is_local(target_uri):
        return "Block of an actor that is not ours"
    target = await ctx.actors.get(target_uri)
    async with ctx.store.db.transaction() as tx:
        await ctx.store.blocks.add(
            tx,
            block_id=ctx.new_id(),
            account_id=actor.id,
            target_account_id=target.id,
            uri=activity["id"],
            now=ctx.now,
        )
        await ctx.store.follows.remove_between(tx, actor.id, target.id)
    return None


async def handle_undo_block(ctx: InboxContext, obj: Any, actor: AccountRow) -> Outcome:
    block_uri = get_id(obj)
    found = await ctx.store.blocks.by_uri(block_uri) if block_uri else None
    if found is None or found[1] != actor.id:
        return "Undo of a Block this actor did not make"
    async with ctx.store.db.transaction() as tx:
        await ctx.store.blocks.remove(tx, found[0])
    return None


async def handle_flag(ctx: InboxContext, activity: dict[str, Any], actor: AccountRow) -> Outcome:
    """A report for our moderators: the objects name a local account and its statuses."""
    target: AccountRow | None = None
    status_ids: list[int] = []
    for uri in (get_id(o) for o in as_list(activity.get("object"))[:MAX_MENTIONS]):
        if uri is None or not ctx.actors.is_local(uri):
            continue
        status = await fetch_status(ctx, uri) if "/statuses/" in uri else None
        if status is not None:
            status_ids.append(status.id)
            target = target or await ctx.store.accounts.by_id(status.account_id)
            continue
        try:
            target = target or await ctx.actors.get(uri)
        except FedError:
            continue
    if target is None:
        return "Flag that names no local account"
    async with ctx.store.db.transaction() as tx:
        await ctx.store.reports.add(
            tx,
            report_id=ctx.new_id(),
            uri=activity["id"],
            account_id=actor.id,
            target_account_id=target.id,
            status_ids=status_ids,
            comment=clean_text(activity.get("content"), MAX_SUMMARY_CHARS),
            now=ctx.now,
        )
    return None


async def handle_pin(
    ctx: InboxContext, activity: dict[str, Any], actor: AccountRow, *, add: bool
) -> Outcome:
    """Add/Remove to the actor's own featured collection: pinned posts."""
    if actor.featured_url is None or get_id(activity.get("target")) != actor.featured_url:
        return "Add/Remove to a collection other than the actor's featured one"
    status_uri = get_id(activity.get("object"))
    status = await ctx.store.statuses.by_uri(status_uri) if status_uri else None
    if status is None or status.account_id != actor.id:
        return "Add/Remove of a status the actor does not own, or that we do not have"
    async with ctx.store.db.transaction() as tx:
        if add:
            await ctx.store.pins.add(tx, actor.id, status.id, ctx.now)
        else:
            await ctx.store.pins.remove(tx, actor.id, status.id)
    return None
