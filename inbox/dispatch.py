"""One stored activity → its handler, by type (Takahē's `match` dispatch).

The actor is loaded (fetched from its own id when unknown or stale) before any handler
runs; unknown types are kept and marked ignored.
"""

from __future__ import annotations

from typing import Any

from fedserver.activitystreams import get_id
from fedserver.db import AccountRow
from inbox.accounts import (
    handle_block,
    handle_delete_actor,
    handle_flag,
    handle_move,
    handle_pin,
    handle_undo_block,
    handle_update_actor,
)
from inbox.context import InboxContext
from inbox.follows import (
    handle_accept,
    handle_follow,
    handle_reject,
    handle_undo_follow,
)
from inbox.notes import (
    handle_create,
    handle_delete_note,
    handle_update_note,
    object_types,
)
from inbox.objects import NOTE_TYPES
from inbox.reactions import (
    handle_announce,
    handle_like,
    handle_undo_announce,
    handle_undo_like,
)

Outcome = str | None
ACTOR_TYPES = {"Person", "Service", "Application", "Group", "Organization"}


async def dispatch(
    ctx: InboxContext, activity: dict[str, Any], kind: str, actor: AccountRow
) -> Outcome:
    match kind:
        case "Follow":
            return await handle_follow(ctx, activity, actor)
        case "Accept":
            return await handle_accept(ctx, activity, actor)
        case "Reject":
            return await handle_reject(ctx, activity, actor)
        case "Undo":
            return await _undo(ctx, activity, actor)
        case "Create":
            return await handle_create(ctx, activity, actor)
        case "Update":
            obj_kinds = object_types(activity.get("object"))
            if obj_kinds & ACTOR_TYPES:
                return await handle_update_actor(ctx, activity, actor)
            if obj_kinds & NOTE_TYPES:
                return await handle_update_note(ctx, activity, actor)
            return f"Update of {sorted(obj_kinds)} is not supported"
        case "Delete":
            target = get_id(activity.get("object"))
            if target is None:
                return "Delete without an object"
            if target == ctx.actor_uri(actor):
                return await handle_delete_actor(ctx, actor)
            return await handle_delete_note(ctx, target, actor)
        case "Like":
            return await handle_like(ctx, activity, actor)
        case "Announce":
            return await handle_announce(ctx, activity, actor)
        case "Block":
            return await handle_block(ctx, activity, actor)
        case "Flag":
            return await handle_flag(ctx, activity, actor)
        case "Move":
            return await handle_move(ctx, activity, actor)
        case "Add" | "Remove":
            return await handle_pin(ctx, activity, actor, add=kind == "Add")
        case _:
            return f"activity type {kind!r} is not supported (kept, not processed)"


async def _undo(ctx: InboxContext, activity: dict[str, Any], actor: AccountRow) -> Outcome:
    obj = activity.get("object")
    kinds = object_types(obj)
    if isinstance(obj, str):
        # A bare id: find what it names among the things we keep by id.
        if await ctx.store.follows.by_uri(obj):
            kinds = {"Follow"}
        elif await ctx.store.favourites.by_uri(obj):
            kinds = {"Like"}
        elif await ctx.store.blocks.by_uri(obj):
            kinds = {"Block"}
        else:
            kinds = {"Announce"}
    if isinstance(obj, dict) and get_id(obj.get("actor")) not in (None, ctx.actor_uri(actor)):
        return "Undo of an activity by another actor"
    if "Follow" in kinds:
        return await handle_undo_follow(ctx, obj, actor)
    if "Like" in kinds:
        return await handle_undo_like(ctx, obj, actor)
    if "Announce" in kinds:
        return await handle_undo_announce(ctx, obj, actor)
    if "Block" in kinds:
        return await handle_undo_block(ctx, obj, actor)
    return f"Undo of {sorted(kinds)} is not supported"
