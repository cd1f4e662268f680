"""Statuses: post, edit and delete one, and the Note and activity a local status is
published as, with the inboxes it goes to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fedserver.db import AccountRow, NewStatus, StatusRow
from fedserver.errors import Forbidden, NotFound, UnprocessableEntity
from fedserver.ids import isoformat
from outbox.build import (
    NoteExtras,
    announce_activity,
    create_activity,
    delete_activity,
    note_document,
    update_activity,
)
from outbox.context import OutboxContext
from outbox.delivery import plan_inboxes
from outbox.text import MentionTarget, extract_hashtags, render_html

VISIBILITIES = ("public", "unlisted", "private", "direct")


async def note_for(ctx: OutboxContext, status: StatusRow, author: AccountRow) -> dict[str, Any]:
    """The Note of a local status, with its mentions, hashtags and reply target."""
    parts = await ctx.store.statuses.parts(status.id)
    mentions = tuple(
        (
            ctx.urls.account_uri(username, domain, uri),
            f"@{username}@{domain or ctx.domain}",
        )
        for _, username, domain, uri in parts.mentions
    )
    extras = NoteExtras(mentions=mentions, hashtags=parts.tags, in_reply_to=status.in_reply_to_uri)
    return note_document(status, author.username, ctx.urls, extras)


async def activity_for(ctx: OutboxContext, status: StatusRow, author: AccountRow) -> dict[str, Any]:
    """The activity that published a local status: its Create, or for a boost its
    Announce. Raises NotFound when a boosted status is gone."""
    activity_id = ctx.urls.status_activity(author.username, status.id)
    if status.reblog_of_id is None:
        return create_activity(await note_for(ctx, status, author), activity_id)
    original = await ctx.store.statuses.by_id(status.reblog_of_id)
    if original is None:
        raise NotFound("the boosted status is gone")
    original_author = await ctx._account(original.account_id)
    return announce_activity(
        ctx.uri_of(author),
        ctx.urls.followers(author.username),
        await ctx.status_uri(original),
        ctx.uri_of(original_author),
        activity_id,
        isoformat(status.created_at),
        followers_only=status.visibility == "private",
    )


async def _audience(ctx: OutboxContext, author: AccountRow, status: StatusRow) -> list[str]:
    """Inboxes a status (and its edits and deletion) goes to."""
    recipients: list[tuple[str | None, str | None]] = []
    if status.visibility != "direct":
        recipients = await ctx._follower_inboxes(author)
    for account_id in await ctx.store.statuses.mentioned_account_ids(status.id):
        account = await ctx.store.accounts.by_id(account_id)
        if account is not None and not account.is_local and not account.is_deleted:
            recipients.append((account.inbox_url, account.shared_inbox_url))
    return plan_inboxes(recipients)


async def post(
    ctx: OutboxContext,
    author: AccountRow,
    text: str,
    *,
    visibility: str = "public",
    spoiler_text: str = "",
    sensitive: bool = False,
    language: str | None = None,
    in_reply_to: StatusRow | None = None,
    mentions: Sequence[AccountRow] = (),
) -> StatusRow:
    """Publish a status. `mentions` are the accounts its @names resolved to."""
    if visibility not in VISIBILITIES:
        raise UnprocessableEntity(f"visibility must be one of {', '.join(VISIBILITIES)}")
    if not text.strip():
        raise UnprocessableEntity("a status needs text")
    if len(text) > ctx.limits.max_status_chars:
        raise UnprocessableEntity(f"text is longer than {ctx.limits.max_status_chars} characters")
    sender = await ctx._sender(author)
    now = ctx.clock()
    targets = {
        f"{m.username}@{m.domain or ctx.domain}".lower(): MentionTarget(
            m.url or ctx.uri_of(m), m.username
        )
        for m in mentions
    }
    content = render_html(
        text, local_domain=ctx.domain, mentions=targets, tag_url=f"{ctx.urls.base_url}/tags/"
    )
    status_id = ctx.new_id()
    reply_uri = await ctx.status_uri(in_reply_to) if in_reply_to else None
    new = NewStatus(
        id=status_id,
        account_id=author.id,
        uri=None,
        url=ctx.urls.status_page(author.username, status_id),
        content=content,
        spoiler_text=spoiler_text,
        visibility=visibility,
        sensitive=sensitive or bool(spoiler_text),
        language=language,
        created_at=now,
        in_reply_to_id=in_reply_to.id if in_reply_to else None,
        in_reply_to_uri=reply_uri,
        in_reply_to_account_id=in_reply_to.account_id if in_reply_to else None,
        source_text=text,
        mention_account_ids=tuple(m.id for m in mentions),
        tags=tuple(extract_hashtags(text)),
    )
    local_mentions = [m.id for m in mentions if m.is_local and m.id != author.id]
    feed = {author.id, *local_mentions}
    if visibility != "direct":
        feed.update(await ctx.store.follows.local_follower_ids(author.id))
    async with ctx.store.db.transaction() as tx:
        await ctx.store.statuses.insert(tx, new)
        await ctx.store.statuses.add_to_feeds(tx, status_id, sorted(feed))
        for account_id in local_mentions:
            await ctx.store.notifications.add(
                tx,
                notification_id=ctx.new_id(),
                account_id=account_id,
                from_account_id=author.id,
                kind="mention",
                status_id=status_id,
                now=now,
            )
    status = await ctx.store.statuses.by_id(status_id)
    assert status is not None
    inboxes = await _audience(ctx, author, status)
    note = await note_for(ctx, status, author)
    activity = create_activity(note, ctx.urls.status_activity(author.username, status_id))
    async with ctx.store.db.transaction() as tx:
        await ctx._queue(tx, sender, activity, inboxes, status_id)
    ctx.wake_delivery()
    return status


async def edit(
    ctx: OutboxContext,
    author: AccountRow,
    status: StatusRow,
    text: str,
    *,
    spoiler_text: str = "",
    sensitive: bool = False,
) -> StatusRow:
    if status.account_id != author.id or not status.is_local:
        raise Forbidden("only the author edits a status")
    if len(text) > ctx.limits.max_status_chars or not text.strip():
        raise UnprocessableEntity("text is empty or too long")
    sender = await ctx._sender(author)
    now = ctx.clock()
    parts = await ctx.store.statuses.parts(status.id)
    targets = {
        f"{username}@{domain or ctx.domain}".lower(): MentionTarget(
            ctx.urls.account_uri(username, domain, uri), username
        )
        for _, username, domain, uri in parts.mentions
    }
    content = render_html(
        text, local_domain=ctx.domain, mentions=targets, tag_url=f"{ctx.urls.base_url}/tags/"
    )
    async with ctx.store.db.transaction() as tx:
        await ctx.store.statuses.update_content(
            tx,
            status.id,
            content=content,
            spoiler_text=spoiler_text,
            sensitive=sensitive or bool(spoiler_text),
            language=status.language,
            edited_at=now,
            edit_id=ctx.new_id(),
            source_text=text,
        )
    edited = await ctx.store.statuses.by_id(status.id)
    assert edited is not None
    note = await note_for(ctx, edited, author)
    update = update_activity(ctx.uri_of(author), note, ctx.new_id(), note["to"], note["cc"])
    async with ctx.store.db.transaction() as tx:
        await ctx._queue(tx, sender, update, await _audience(ctx, author, edited), status.id)
    ctx.wake_delivery()
    return edited


async def delete(ctx: OutboxContext, author: AccountRow, status: StatusRow) -> None:
    if status.account_id != author.id:
        raise Forbidden("only the author deletes a status")
    sender = await ctx._sender(author)
    inboxes = await _audience(ctx, author, status)
    note = await note_for(ctx, status, author)
    activity = delete_activity(ctx.uri_of(author), note["id"], note["to"], note["cc"], ctx.new_id())
    async with ctx.store.db.transaction() as tx:
        await ctx.store.statuses.mark_deleted(tx, status.id, ctx.clock())
        await ctx._queue(tx, sender, activity, inboxes, status.id)
    ctx.wake_delivery()
