"""Create, Update and Delete of notes (SECURITY.md R5, R9):

- Create: the embedded object is trusted only when its author is the sender and it lives
  on the sender's host; otherwise it is refetched from its origin by id.
- Update: only the stored owner edits, and only with an object that is the same id and
  authored by the sender; the previous version goes to the edit history.
- Delete: only the stored owner deletes; a Delete that arrives before its Create leaves a
  tombstone naming the deleter, so the late Create is ignored if (and only if) the same
  actor sends it: another actor of the host cannot reserve the id.
"""

from __future__ import annotations

from typing import Any

from fedserver.activitystreams import get_id
from fedserver.db import AccountRow
from inbox.context import InboxContext
from inbox.objects import NOTE_TYPES, parse_note
from inbox.statuses import blocked_by_a_local_party, fetch_status, same_origin, store_note

Outcome = str | None


def object_types(obj: Any) -> set[str]:
    if not isinstance(obj, dict):
        return set()
    kind = obj.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {k for k in kinds if isinstance(k, str)}


async def handle_create(ctx: InboxContext, activity: dict[str, Any], actor: AccountRow) -> Outcome:
    obj = activity.get("object")
    object_uri = get_id(obj)
    if object_uri is None:
        return "Create without an object id"
    if isinstance(obj, dict) and not object_types(obj) & NOTE_TYPES:
        return f"Create of {sorted(object_types(obj))} is not supported"
    actor_uri = ctx.actor_uri(actor)
    trusted = (
        isinstance(obj, dict)
        and same_origin(object_uri, actor_uri)
        and get_id(obj.get("attributedTo")) == actor_uri
    )
    if trusted:
        note = parse_note(obj)
        if await blocked_by_a_local_party(ctx, note, actor):
            return "Create that involves a local account which blocks the author"
        status = await store_note(ctx, note, actor)
        if status is None:
            return "Create of an object that was deleted or belongs to another actor"
        return None
    # Not the author's own copy: believe only what its origin serves (R5, Mastodon
    # trustworthy_attribution?).
    status = await fetch_status(ctx, object_uri)
    return None if status is not None else "Create of an object its origin does not confirm"


async def handle_update_note(
    ctx: InboxContext, activity: dict[str, Any], actor: AccountRow
) -> Outcome:
    obj = activity.get("object")
    if not isinstance(obj, dict):
        return "Update of a note must embed the note"
    note = parse_note(obj)
    status = await ctx.store.statuses.by_uri(note.uri)
    if status is None:
        return "Update of a note we do not have"
    if status.account_id != actor.id or note.attributed_to != ctx.actor_uri(actor):
        return "Update of a note by someone who does not own it"
    async with ctx.store.db.transaction() as tx:
        if note.poll is not None:
            await ctx.store.statuses.set_poll(
                tx,
                status.id,
                {
                    "multiple": note.poll.multiple,
                    "expires_at": note.poll.expires_at,
                    "options": [{"title": t, "votes": v} for t, v in note.poll.options],
                },
            )
        changed = (note.content, note.spoiler_text) != (status.content, status.spoiler_text)
        if changed:
            await ctx.store.statuses.update_content(
                tx,
                status.id,
                content=note.content,
                spoiler_text=note.spoiler_text,
                sensitive=note.sensitive or bool(note.spoiler_text),
                language=note.language,
                edited_at=note.updated or ctx.now,
                edit_id=ctx.new_id(),
            )
    return None


async def handle_delete_note(ctx: InboxContext, object_uri: str, actor: AccountRow) -> Outcome:
    actor_uri = ctx.actor_uri(actor)
    status = await ctx.store.statuses.by_uri(object_uri)
    if status is None:
        if not same_origin(object_uri, actor_uri):
            return "Delete of an unknown object on another host"
        # Delete before Create: remember, so the Create that may follow is ignored.
        async with ctx.store.db.transaction() as tx:
            await ctx.store.tombstones.add(tx, object_uri, actor_uri, ctx.now)
        return None
    if status.account_id != actor.id:
        return "Delete of an object owned by another actor"
    async with ctx.store.db.transaction() as tx:
        await ctx.store.statuses.delete(tx, status.id)
        await ctx.store.tombstones.add(tx, object_uri, actor_uri, ctx.now, owner=True)
    return None
