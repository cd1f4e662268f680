"""Who may see a status through the API (SECURITY.md 1.6: test visibility on every read
path). Public and unlisted: everyone not blocked by the author. Followers-only: the
author, accepted followers and mentioned accounts. Direct: the author and the mentioned.
A boost is as visible as what it boosts."""

from __future__ import annotations

from fedserver.db import AccountRow, StatusRow, Store
from fedserver.errors import NotFound


async def can_see(store: Store, viewer: AccountRow | None, status: StatusRow) -> bool:
    if status.deleted_at is not None:
        return False
    if status.reblog_of_id is not None:
        original = await store.statuses.by_id(status.reblog_of_id)
        if original is None or not await can_see(store, viewer, original):
            return False
    if viewer is not None and viewer.id == status.account_id:
        return True
    if viewer is not None and await store.blocks.is_blocked(status.account_id, viewer.id):
        return False
    if status.visibility in ("public", "unlisted"):
        return True
    if viewer is None:
        return False
    if viewer.id in await store.statuses.mentioned_account_ids(status.id):
        return True
    if status.visibility == "private":
        follow = await store.follows.get(viewer.id, status.account_id)
        return follow is not None and follow.state == "accepted"
    return False


async def visible_status(store: Store, viewer: AccountRow | None, status_id: str) -> StatusRow:
    """The status with that id if the viewer may see it; 404 otherwise (never 403, which
    would confirm that a private status exists)."""
    status = (
        await store.statuses.by_id(int(status_id))
        if status_id.isdigit() and len(status_id) < 20
        else None
    )
    if status is None or not await can_see(store, viewer, status):
        raise NotFound("Record not found")
    return status
