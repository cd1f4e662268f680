"""The account as a whole: pinned statuses (its featured collection), moving its
followers to another account, deleting it, announcing a profile change."""

from __future__ import annotations

from typing import Any

from fedserver.db import AccountRow, StatusRow
from fedserver.errors import UnprocessableEntity
from outbox.build import collection_change, delete_activity, move_activity, update_activity
from outbox.context import OutboxContext
from outbox.delivery import plan_inboxes


async def pin(ctx: OutboxContext, account: AccountRow, status: StatusRow, *, pinned: bool) -> None:
    """Pin or unpin one's own public or unlisted status (Add/Remove to featured)."""
    if status.account_id != account.id or status.visibility not in ("public", "unlisted"):
        raise UnprocessableEntity("only one's own public or unlisted statuses are pinned")
    sender = await ctx._sender(account)
    activity = collection_change(
        "Add" if pinned else "Remove",
        ctx.uri_of(account),
        ctx.urls.featured(account.username),
        await ctx.status_uri(status),
        ctx.new_id(),
    )
    async with ctx.store.db.transaction() as tx:
        if pinned:
            await ctx.store.pins.add(tx, account.id, status.id, ctx.clock())
        else:
            await ctx.store.pins.remove(tx, account.id, status.id)
        await ctx._queue(tx, sender, activity, plan_inboxes(await ctx._follower_inboxes(account)))
    ctx.wake_delivery()


async def move(ctx: OutboxContext, account: AccountRow, target: AccountRow) -> None:
    """Move this account's followers to `target`, which must list us in alsoKnownAs
    (the caller refreshes `target` from its origin first)."""
    if ctx.uri_of(account) not in target.also_known_as:
        raise UnprocessableEntity(
            f"{ctx.uri_of(target)} does not list {ctx.uri_of(account)} in alsoKnownAs"
        )
    sender = await ctx._sender(account)
    activity = move_activity(
        ctx.uri_of(account),
        ctx.urls.followers(account.username),
        ctx.uri_of(target),
        ctx.new_id(),
    )
    async with ctx.store.db.transaction() as tx:
        await ctx.store.accounts.set_moved_to(tx, account.id, ctx.uri_of(target), ctx.clock())
        await ctx._queue(tx, sender, activity, plan_inboxes(await ctx._follower_inboxes(account)))
    ctx.account_changed(account.id)
    ctx.wake_delivery()


async def delete_account(ctx: OutboxContext, account: AccountRow) -> None:
    """Delete a local account and tell its followers (Delete of the actor itself). The
    keys stay, so the Delete can still be signed; the name stays reserved."""
    sender = await ctx._sender(account)
    actor = ctx.uri_of(account)
    activity = delete_activity(
        actor, actor, ["https://www.w3.org/ns/activitystreams#Public"], [], ctx.new_id()
    )
    inboxes = plan_inboxes(await ctx._follower_inboxes(account))
    async with ctx.store.db.transaction() as tx:
        await ctx._queue(tx, sender, activity, inboxes)
    await ctx.store.accounts.mark_deleted(account.id, ctx.clock())
    ctx.account_changed(account.id)
    ctx.wake_delivery()


async def announce_profile(ctx: OutboxContext, account: AccountRow, person: dict[str, Any]) -> None:
    """Send Update(Person) after a profile change (and after a key rotation)."""
    sender = await ctx._sender(account)
    activity = update_activity(
        ctx.uri_of(account),
        person,
        ctx.new_id(),
        ["https://www.w3.org/ns/activitystreams#Public"],
        [ctx.urls.followers(account.username)],
    )
    async with ctx.store.db.transaction() as tx:
        await ctx._queue(tx, sender, activity, plan_inboxes(await ctx._follower_inboxes(account)))
    ctx.wake_delivery()
