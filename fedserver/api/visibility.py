"""Who may see a status through the API (SECURITY.md 1.6: test visibility on every read
path). Public and unlisted: everyone not blocked by the author. Followers-only: the
author, accepted followers and mentioned accounts. Direct: the author and the mentioned.
A boost is as visible as what it boosts.

A page is checked at once (`visible`): one query per kind of fact (the boosted
originals, the authors who block the viewer, the statuses that mention the viewer, the
authors the viewer follows) instead of one or two per status; the rule itself is the
pure `_may_see`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from fedserver.db import AccountRow, StatusRow, Store
from fedserver.errors import NotFound

#: A boost of a boost does not happen (Mastodon and we boost originals); a chain is cut
#: here rather than followed.
_MAX_BOOST_DEPTH = 2


@dataclass(frozen=True)
class _Facts:
    """What the rule needs about a page, read in a few queries."""

    statuses: dict[int, StatusRow]
    blockers: set[int]
    mentioning_viewer: set[int]
    followed: set[int]


async def visible(
    store: Store, viewer: AccountRow | None, statuses: Sequence[StatusRow]
) -> list[StatusRow]:
    """The statuses the viewer may see, in their order."""
    if not statuses:
        return []
    facts = await _facts(store, viewer, statuses)
    return [s for s in statuses if _may_see(facts, viewer, s, 0)]


async def can_see(store: Store, viewer: AccountRow | None, status: StatusRow) -> bool:
    return bool(await visible(store, viewer, [status]))


async def _facts(store: Store, viewer: AccountRow | None, statuses: Sequence[StatusRow]) -> _Facts:
    known = {s.id: s for s in statuses}
    wanted = {s.reblog_of_id for s in statuses if s.reblog_of_id is not None}
    for _ in range(_MAX_BOOST_DEPTH):
        wanted -= known.keys()
        if not wanted:
            break
        found = await store.statuses.by_ids(wanted)
        known.update(found)
        wanted = {s.reblog_of_id for s in found.values() if s.reblog_of_id is not None}
    if viewer is None:
        return _Facts(known, set(), set(), set())
    others = [s for s in known.values() if s.account_id != viewer.id and s.deleted_at is None]
    restricted = [s for s in others if s.visibility in ("private", "direct")]
    # Asked for together: one trip to the database's thread (_CoalescedReads).
    blockers, mentioning, followed = await asyncio.gather(
        store.blocks.blockers_of({s.account_id for s in others}, viewer.id),
        store.statuses.mentioning([s.id for s in restricted], viewer.id),
        store.follows.accepted_targets(
            viewer.id, {s.account_id for s in restricted if s.visibility == "private"}
        ),
    )
    return _Facts(known, blockers, mentioning, followed)


def _may_see(facts: _Facts, viewer: AccountRow | None, status: StatusRow, depth: int) -> bool:
    if status.deleted_at is not None:
        return False
    if status.reblog_of_id is not None:
        original = facts.statuses.get(status.reblog_of_id)
        if original is None or depth >= _MAX_BOOST_DEPTH:
            return False
        if not _may_see(facts, viewer, original, depth + 1):
            return False
    if viewer is not None and viewer.id == status.account_id:
        return True
    if viewer is not None and status.account_id in facts.blockers:
        return False
    if status.visibility in ("public", "unlisted"):
        return True
    if viewer is None:
        return False
    if status.id in facts.mentioning_viewer:
        return True
    if status.visibility == "private":
        return status.account_id in facts.followed
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
