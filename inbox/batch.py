"""Creates of notes by their own authors, stored many at a time.

Most inbound traffic is an author's Create of its own note, embedded (Mastodon's shape).
Processed one by one, each costs a dozen trips to aiosqlite's threads; a run of them is
stored here with one read and one write transaction for the whole run. The rules are
those of `inbox.notes.handle_create` and `inbox.statuses.store_note`, decided for each
Create in order, so the result is the one processing them one at a time would give:
a note blocked by a local party, already stored (by another author: refused), deleted
earlier (tombstone) or replying to an earlier note of the same run behaves the same.

Only what needs no network is done here: a Create whose parent is unknown (a fetch)
ends the run, and the worker handles it on its own before the next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fedserver.activitystreams import get_id
from fedserver.db import AccountRow, InboxItem, NewStatus
from fedserver.db.inbox import CreateFacts
from fedserver.errors import FedError
from fedserver.textlimits import MAX_MENTIONS
from inbox.context import InboxContext
from inbox.objects import NOTE_TYPES, ParsedNote, parse_note, visibility_of
from inbox.statuses import new_status, same_origin

#: (item id, state, note) of a processed item, as `Inbox.finish_many` takes them.
Finished = tuple[int, str, str | None]

BLOCKED = "Create that involves a local account which blocks the author"
NOT_STORED = "Create of an object that was deleted or belongs to another actor"


@dataclass(frozen=True)
class PendingCreate:
    """An inbox item that is a trusted Create of a note by a known, live remote actor."""

    item: InboxItem
    author: AccountRow
    author_uri: str
    note: ParsedNote


def trusted_note(activity: dict[str, Any], author_uri: str) -> ParsedNote | None:
    """The note of a Create when `handle_create` would store it as embedded (the
    author's own object on the author's host), else None (the general path decides)."""
    obj = activity.get("object")
    if not isinstance(obj, dict):
        return None
    kind = obj.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if not any(isinstance(k, str) and k in NOTE_TYPES for k in kinds):
        return None
    object_uri = get_id(obj)
    if object_uri is None or not same_origin(object_uri, author_uri):
        return None
    if get_id(obj.get("attributedTo")) != author_uri:
        return None
    try:
        return parse_note(obj)
    except FedError:
        return None


async def store_creates(ctx: InboxContext, run: list[PendingCreate]) -> list[Finished]:
    """Store a run of Creates in one transaction with their items' final states.
    Returns the states of the items handled: a prefix of `run`, ending before the first
    one that needs a fetch (its parent is unknown)."""
    store = ctx.store
    local_prefix = ctx.urls.base_url + "/"
    notes = [pending.note for pending in run]
    parent_uris = {n.in_reply_to for n in notes if n.in_reply_to}
    local_uris = {
        uri
        for n in notes
        for uri in (*n.mentions, *n.recipients, *((n.in_reply_to,) if n.in_reply_to else ()))
        if uri.startswith(local_prefix)
    }
    async with store.db.transaction() as tx:
        facts = await store.inbox.create_facts(
            tx,
            status_uris={n.uri for n in notes} | {u for u in parent_uris if u not in local_uris},
            note_uris={n.uri for n in notes},
            local_usernames={name for u in local_uris if (name := _local_username(ctx, u))},
            mentioned_uris={u for n in notes for u in n.mentions if u not in local_uris},
            author_ids={pending.author.id for pending in run},
            local_status_ids={i for u in parent_uris if (i := _local_status_id(ctx, u))},
        )
        plan = _Plan(ctx, facts)
        for pending in run:
            if not plan.add(pending):
                break
        if plan.statuses:
            await store.statuses.insert_many(tx, plan.statuses)
            await store.statuses.add_to_author_feeds(tx, plan.feeds)
            await store.notifications.add_each(tx, plan.notifications, now=ctx.now)
        await store.inbox.finish_in(tx, plan.finished)
    return plan.finished


class _Plan:
    """What a run of Creates writes, decided one Create at a time, in order."""

    def __init__(self, ctx: InboxContext, facts: CreateFacts) -> None:
        self._ctx = ctx
        self._facts = facts
        #: uri → (id, author id) of the statuses stored by this run so far.
        self._stored: dict[str, tuple[int, int]] = {}
        self.statuses: list[NewStatus] = []
        self.feeds: list[tuple[int, int, bool, list[int]]] = []
        self.notifications: list[tuple[int, int, int, str, int | None]] = []
        self.finished: list[Finished] = []

    def add(self, pending: PendingCreate) -> bool:
        """Decide one Create; False (nothing decided) when its parent must be fetched."""
        ctx, facts, note, author = self._ctx, self._facts, pending.note, pending.author
        parent: tuple[int, int] | None = None
        if note.in_reply_to:
            found, parent = self._parent(note.in_reply_to)
            if not found:
                return False
        # blocked_by_a_local_party: the local accounts it mentions or addresses, and the
        # author of the local status it replies to.
        local = sorted({u for u in (*note.mentions, *note.recipients) if ctx.actors.is_local(u)})
        involved = {i for u in local[:MAX_MENTIONS] if (i := self._local_account(u))}
        if note.in_reply_to and ctx.actors.is_local(note.in_reply_to) and parent is not None:
            involved.add(parent[1])
        if any((account_id, author.id) in facts.blocks for account_id in involved):
            self.finished.append((pending.item.id, "ignored", BLOCKED))
            return True
        existing = self._stored.get(note.uri) or facts.statuses.get(note.uri)
        if existing is not None:
            outcome = None if existing[1] == author.id else NOT_STORED
            self._finish(pending, outcome)
            return True
        if (note.uri, pending.author_uri) in facts.tombstones:
            self._finish(pending, NOT_STORED)
            return True
        mentioned: list[tuple[int, bool]] = []
        for uri in note.mentions:
            if ctx.actors.is_local(uri):
                account_id = self._local_account(uri)
                if account_id is not None:
                    mentioned.append((account_id, True))
            elif uri in facts.accounts:
                mentioned.append((facts.accounts[uri], False))
        local_mentioned = [account_id for account_id, is_local in mentioned if is_local]
        visibility = visibility_of(note.to, note.cc, author.followers_url)
        status_id = ctx.new_id()
        self.statuses.append(
            new_status(ctx, note, author, status_id, visibility, parent, mentioned)
        )
        self._stored[note.uri] = (status_id, author.id)
        self.feeds.append((status_id, author.id, visibility != "direct", local_mentioned))
        # Mentioned local accounts that do not block the author (they get the status in
        # their feeds, as in store_note).
        notified = sorted({a for a in local_mentioned if (a, author.id) not in facts.blocks})
        self.notifications += [
            (ctx.new_id(), account_id, author.id, "mention", status_id) for account_id in notified
        ]
        self._finish(pending, None)
        return True

    def _finish(self, pending: PendingCreate, outcome: str | None) -> None:
        state = "done" if outcome is None else "ignored"
        self.finished.append((pending.item.id, state, outcome))

    def _parent(self, uri: str) -> tuple[bool, tuple[int, int] | None]:
        """`fetch_status` without the fetch: (known, (id, author id) or None); known is
        False when only a fetch could tell."""
        ctx = self._ctx
        known = self._stored.get(uri) or self._facts.statuses.get(uri)
        if known is not None:
            return True, known
        if ctx.actors.is_local(uri):
            status_id = _local_status_id(ctx, uri)
            found = None if status_id is None else self._facts.local_statuses.get(status_id)
            if status_id is None or found is None or ctx.urls.status(found[1], status_id) != uri:
                return True, None
            return True, (status_id, found[0])
        if ctx.actors.is_blocked(uri):
            return True, None
        return False, None

    def _local_account(self, uri: str) -> int | None:
        name = _local_username(self._ctx, uri)
        return None if name is None else self._facts.local_users.get(name)


def _local_username(ctx: InboxContext, uri: str) -> str | None:
    """The username in a local actor URI (as `RemoteActors.get` reads it), else None."""
    prefix = ctx.urls.base_url + "/users/"
    name = uri[len(prefix) :] if uri.startswith(prefix) else ""
    return name if name and "/" not in name else None


def _local_status_id(ctx: InboxContext, uri: str) -> int | None:
    if not uri.startswith(ctx.urls.base_url + "/"):
        return None
    tail = uri.rsplit("/statuses/", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else None
