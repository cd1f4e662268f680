"""Storing remote statuses: from a trusted embedded object or fetched from their origin.

An object is trusted only as its origin serves it (SECURITY.md R4, R5): embedded in a
Create by its own author on the author's host, or fetched by id through the guarded
client. A known id is never taken over by someone else (Mastodon CVE-2024-37903), a
deleted id never comes back (R9), and reply chains are followed within the budget.
"""

from __future__ import annotations

from fedserver.db import AccountRow, NewAttachment, NewStatus, StatusRow
from fedserver.errors import FedError, FetchError, InvalidActivity
from fedserver.textlimits import MAX_MENTIONS
from fedserver.urlparts import netloc
from inbox.context import MAX_REPLY_DEPTH, InboxContext
from inbox.objects import ParsedNote, parse_note, visibility_of


def same_origin(first: str, second: str) -> bool:
    return netloc(first).lower() == netloc(second).lower()


async def fetch_status(ctx: InboxContext, uri: str, *, depth: int = 0) -> StatusRow | None:
    """A status by URI: known, local, or fetched from its origin (None when it cannot be
    had: deleted, unreachable, not a note, or beyond the budget)."""
    known = await ctx.store.statuses.by_uri(uri)
    if known is not None:
        return known
    if uri.startswith(ctx.urls.base_url + "/"):
        return await _local_status(ctx, uri)
    # A blocked domain is never contacted (SECURITY.md checklist 9). A tombstone is not
    # checked here: who deleted it only matters against the author, known after the
    # fetch (store_note), and the origin of a deleted object answers 404/410 anyway.
    if ctx.actors.is_blocked(uri) or depth > MAX_REPLY_DEPTH:
        return None
    ctx.budget.take()
    try:
        document = await ctx.client.fetch_document(uri, signer=ctx.instance_signer)
        note = parse_note(document)
        if not same_origin(note.uri, note.attributed_to):
            raise InvalidActivity(f"{uri} is attributed to an actor on another host")
        author = await ctx.actors.get(note.attributed_to)
    except (FetchError, FedError):
        return None
    return await store_note(ctx, note, author, depth=depth)


async def blocked_by_a_local_party(ctx: InboxContext, note: ParsedNote, author: AccountRow) -> bool:
    """Whether a note mentions or addresses a local account that blocks its author, or
    replies to a status of one (GoToSocial refuses such a Create whole: its
    TestBlockedCCd and TestBlockedRepliedStatus; SECURITY.md checklist 9). Only local
    lookups: nothing is fetched for it."""
    uris = sorted({uri for uri in (*note.mentions, *note.recipients) if ctx.actors.is_local(uri)})
    involved = set()
    for uri in uris[:MAX_MENTIONS]:
        try:
            involved.add((await ctx.actors.get(uri)).id)
        except FedError:
            continue  # a followers collection, or no such account
    if note.in_reply_to and note.in_reply_to.startswith(ctx.urls.base_url + "/"):
        parent = await _local_status(ctx, note.in_reply_to)
        if parent is not None:
            involved.add(parent.account_id)
    for account_id in sorted(involved):
        if await ctx.store.blocks.is_blocked(account_id, author.id):
            return True
    return False


async def _local_status(ctx: InboxContext, uri: str) -> StatusRow | None:
    tail = uri.rsplit("/statuses/", 1)
    if len(tail) != 2 or not tail[1].isdigit():
        return None
    status = await ctx.store.statuses.by_id(int(tail[1]))
    if status is None or status.deleted_at is not None or not status.is_local:
        return None
    author = await ctx.store.accounts.by_id(status.account_id)
    if author is None or ctx.urls.status(author.username, status.id) != uri:
        return None
    return status


async def store_note(
    ctx: InboxContext, note: ParsedNote, author: AccountRow, *, depth: int = 0
) -> StatusRow | None:
    """Store a note whose authorship was established by the caller. Returns the stored
    status, or None when it must not be stored (deleted earlier, or the id belongs to
    another author)."""
    existing, tombstoned = await ctx.store.statuses.by_uri_and_tombstone(
        note.uri, by=ctx.actor_uri(author)
    )
    if existing is not None:
        return existing if existing.account_id == author.id else None
    if tombstoned:
        return None
    parent = None
    if note.in_reply_to:
        parent = await fetch_status(ctx, note.in_reply_to, depth=depth + 1)
    mentioned = await _mentioned_accounts(ctx, note)
    visibility = visibility_of(note.to, note.cc, author.followers_url)
    status_id = ctx.new_id()
    new = new_status(
        ctx,
        note,
        author,
        status_id,
        visibility,
        (parent.id, parent.account_id) if parent else None,
        [(a.id, a.is_local) for a in mentioned],
    )
    local_mentioned = [a.id for a in mentioned if a.is_local]
    # Home feeds: the author's local followers (unless direct) and the mentioned local
    # accounts, minus those who block the author; the same check spares the mentioned
    # ones who block the author their notification.
    feed = await ctx.store.timelines.feed_recipients(
        author.id, mentioned=local_mentioned, followers=visibility != "direct"
    )
    notified = sorted(set(local_mentioned) & set(feed))
    async with ctx.store.db.transaction() as tx:
        stored = await ctx.store.statuses.insert_returning(tx, new)
        if stored is None:
            return await ctx.store.statuses.by_uri(note.uri)
        await ctx.store.statuses.add_to_feeds(tx, status_id, feed)
        await ctx.store.notifications.add_many(
            tx,
            [(ctx.new_id(), account_id) for account_id in notified],
            from_account_id=author.id,
            kind="mention",
            status_id=status_id,
            now=ctx.now,
        )
    return stored


async def _mentioned_accounts(ctx: InboxContext, note: ParsedNote) -> list[AccountRow]:
    """Mentioned accounts we know: local ones, and remote ones already stored (mentions
    never trigger fetches: one post could otherwise make us fetch dozens of actors)."""
    found = []
    for uri in note.mentions:
        if ctx.actors.is_local(uri):
            try:
                found.append(await ctx.actors.get(uri))
            except FedError:
                continue
        else:
            account = await ctx.store.remote_accounts.by_uri(uri)
            if account is not None:
                found.append(account)
    return found


def new_status(
    ctx: InboxContext,
    note: ParsedNote,
    author: AccountRow,
    status_id: int,
    visibility: str,
    parent: tuple[int, int] | None,
    mentioned: list[tuple[int, bool]],
) -> NewStatus:
    """The row `store_note` (and `inbox.batch`, for a run of Creates) writes for a note:
    `parent` is (id, account id) of the status it replies to, `mentioned` (account id,
    is local) of the accounts it mentions."""
    return NewStatus(
        id=status_id,
        account_id=author.id,
        uri=note.uri,
        url=note.url,
        content=note.content,
        spoiler_text=note.spoiler_text,
        visibility=visibility,
        sensitive=note.sensitive or bool(note.spoiler_text),
        language=note.language,
        created_at=note.published or ctx.now,
        edited_at=note.updated
        if note.updated and note.published and note.updated > note.published
        else None,
        in_reply_to_id=parent[0] if parent else None,
        in_reply_to_uri=note.in_reply_to,
        in_reply_to_account_id=parent[1] if parent else None,
        object_type=note.object_type,
        poll=None
        if note.poll is None
        else {
            "multiple": note.poll.multiple,
            "expires_at": note.poll.expires_at,
            "options": [{"title": t, "votes": v} for t, v in note.poll.options],
        },
        mention_account_ids=tuple(account_id for account_id, _ in mentioned),
        tags=note.hashtags,
        emojis=note.emojis,
        attachments=tuple(
            NewAttachment(
                id=ctx.new_id(),
                type=a.type,
                remote_url=a.url,
                media_type=a.media_type,
                description=a.description,
                blurhash=a.blurhash,
                width=a.width,
                height=a.height,
            )
            for a in note.attachments
        ),
    )
