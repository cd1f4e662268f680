"""Local actions: each changes our state and queues the activity that tells the network,
in one transaction, so neither happens without the other.

Used by the CLI now and by the client API. Recipients: remote followers through their
shared inboxes, plus mentioned remote accounts; local followers get the status in their
home feed directly. Delivery itself is the delivery worker's job (outbox/worker.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fedserver.config import LimitsConfig
from fedserver.db import AccountRow, NewStatus, StatusRow, Store
from fedserver.db.database import Transaction
from fedserver.errors import Forbidden, NotFound, UnprocessableEntity
from fedserver.ids import Clock, IdGenerator, isoformat
from fedserver.keypairs import LocalKeys
from fedserver.outgoing import Sender, queue_activity
from fedserver.urls import LocalUrls
from outbox.build import (
    NoteExtras,
    accept_activity,
    announce_activity,
    block_activity,
    collection_change,
    create_activity,
    delete_activity,
    follow_activity,
    like_activity,
    move_activity,
    note_document,
    reject_activity,
    undo_activity,
    update_activity,
)
from outbox.delivery import plan_inboxes
from outbox.text import MentionTarget, extract_hashtags, render_html

VISIBILITIES = ("public", "unlisted", "private", "direct")


@dataclass
class Outbox:
    store: Store
    urls: LocalUrls
    local_keys: LocalKeys
    new_id: IdGenerator
    clock: Clock
    domain: str
    limits: LimitsConfig
    #: Called after a commit that queued deliveries: the worker starts at once.
    wake_delivery: Callable[[], None]

    # -- helpers -----------------------------------------------------------------------

    def uri_of(self, account: AccountRow) -> str:
        return self.urls.account_uri(account.username, account.domain, account.uri)

    async def status_uri(self, status: StatusRow) -> str:
        if status.uri is not None:
            return status.uri
        author = await self._account(status.account_id)
        return self.urls.status(author.username, status.id)

    async def _account(self, account_id: int) -> AccountRow:
        account = await self.store.accounts.by_id(account_id)
        if account is None:
            raise NotFound(f"no account {account_id}")
        return account

    async def _sender(self, account: AccountRow) -> Sender:
        if not account.is_local:
            raise Forbidden("only local accounts act through the outbox")
        return Sender(account.id, account.username, await self.local_keys.get(account.id))

    async def _queue(
        self,
        tx: Transaction,
        sender: Sender,
        activity: dict[str, Any],
        inboxes: list[str],
        status_id: int | None = None,
    ) -> None:
        await queue_activity(
            tx,
            self.store,
            activity=activity,
            sender=sender,
            inboxes=inboxes,
            urls=self.urls,
            now=self.clock(),
            new_id=self.new_id,
            status_id=status_id,
        )

    async def _follower_inboxes(self, account: AccountRow) -> list[tuple[str | None, str | None]]:
        return list(await self.store.follows.remote_follower_inboxes(account.id))

    async def note_for(self, status: StatusRow, author: AccountRow) -> dict[str, Any]:
        """The Note of a local status, with its mentions, hashtags and reply target."""
        parts = await self.store.statuses.parts(status.id)
        mentions = tuple(
            (
                self.urls.account_uri(username, domain, uri),
                f"@{username}@{domain or self.domain}",
            )
            for _, username, domain, uri in parts.mentions
        )
        extras = NoteExtras(
            mentions=mentions, hashtags=parts.tags, in_reply_to=status.in_reply_to_uri
        )
        return note_document(status, author.username, self.urls, extras)

    async def activity_for(self, status: StatusRow, author: AccountRow) -> dict[str, Any]:
        """The activity that published a local status: its Create, or for a boost its
        Announce. Raises NotFound when a boosted status is gone."""
        activity_id = self.urls.status_activity(author.username, status.id)
        if status.reblog_of_id is None:
            return create_activity(await self.note_for(status, author), activity_id)
        original = await self.store.statuses.by_id(status.reblog_of_id)
        if original is None:
            raise NotFound("the boosted status is gone")
        original_author = await self._account(original.account_id)
        return announce_activity(
            self.uri_of(author),
            self.urls.followers(author.username),
            await self.status_uri(original),
            self.uri_of(original_author),
            activity_id,
            isoformat(status.created_at),
            followers_only=status.visibility == "private",
        )

    async def _audience(self, author: AccountRow, status: StatusRow) -> list[str]:
        """Inboxes a status (and its edits and deletion) goes to."""
        recipients: list[tuple[str | None, str | None]] = []
        if status.visibility != "direct":
            recipients = await self._follower_inboxes(author)
        for account_id in await self.store.statuses.mentioned_account_ids(status.id):
            account = await self.store.accounts.by_id(account_id)
            if account is not None and not account.is_local and not account.is_deleted:
                recipients.append((account.inbox_url, account.shared_inbox_url))
        return plan_inboxes(recipients)

    # -- statuses ----------------------------------------------------------------------

    async def post(
        self,
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
        if len(text) > self.limits.max_status_chars:
            raise UnprocessableEntity(
                f"text is longer than {self.limits.max_status_chars} characters"
            )
        sender = await self._sender(author)
        now = self.clock()
        targets = {
            f"{m.username}@{m.domain or self.domain}".lower(): MentionTarget(
                m.url or self.uri_of(m), m.username
            )
            for m in mentions
        }
        content = render_html(
            text, local_domain=self.domain, mentions=targets, tag_url=f"{self.urls.base_url}/tags/"
        )
        status_id = self.new_id()
        reply_uri = await self.status_uri(in_reply_to) if in_reply_to else None
        new = NewStatus(
            id=status_id,
            account_id=author.id,
            uri=None,
            url=self.urls.status_page(author.username, status_id),
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
            feed.update(await self.store.follows.local_follower_ids(author.id))
        async with self.store.db.transaction() as tx:
            await self.store.statuses.insert(tx, new)
            await self.store.statuses.add_to_feeds(tx, status_id, sorted(feed))
            for account_id in local_mentions:
                await self.store.notifications.add(
                    tx,
                    notification_id=self.new_id(),
                    account_id=account_id,
                    from_account_id=author.id,
                    kind="mention",
                    status_id=status_id,
                    now=now,
                )
        status = await self.store.statuses.by_id(status_id)
        assert status is not None
        inboxes = await self._audience(author, status)
        note = await self.note_for(status, author)
        activity = create_activity(note, self.urls.status_activity(author.username, status_id))
        async with self.store.db.transaction() as tx:
            await self._queue(tx, sender, activity, inboxes, status_id)
        self.wake_delivery()
        return status

    async def edit(
        self,
        author: AccountRow,
        status: StatusRow,
        text: str,
        *,
        spoiler_text: str = "",
        sensitive: bool = False,
    ) -> StatusRow:
        if status.account_id != author.id or not status.is_local:
            raise Forbidden("only the author edits a status")
        if len(text) > self.limits.max_status_chars or not text.strip():
            raise UnprocessableEntity("text is empty or too long")
        sender = await self._sender(author)
        now = self.clock()
        parts = await self.store.statuses.parts(status.id)
        targets = {
            f"{username}@{domain or self.domain}".lower(): MentionTarget(
                self.urls.account_uri(username, domain, uri), username
            )
            for _, username, domain, uri in parts.mentions
        }
        content = render_html(
            text, local_domain=self.domain, mentions=targets, tag_url=f"{self.urls.base_url}/tags/"
        )
        async with self.store.db.transaction() as tx:
            await self.store.statuses.update_content(
                tx,
                status.id,
                content=content,
                spoiler_text=spoiler_text,
                sensitive=sensitive or bool(spoiler_text),
                language=status.language,
                edited_at=now,
                edit_id=self.new_id(),
                source_text=text,
            )
        edited = await self.store.statuses.by_id(status.id)
        assert edited is not None
        note = await self.note_for(edited, author)
        update = update_activity(self.uri_of(author), note, self.new_id(), note["to"], note["cc"])
        async with self.store.db.transaction() as tx:
            await self._queue(tx, sender, update, await self._audience(author, edited), status.id)
        self.wake_delivery()
        return edited

    async def delete(self, author: AccountRow, status: StatusRow) -> None:
        if status.account_id != author.id:
            raise Forbidden("only the author deletes a status")
        sender = await self._sender(author)
        inboxes = await self._audience(author, status)
        note = await self.note_for(status, author)
        activity = delete_activity(
            self.uri_of(author), note["id"], note["to"], note["cc"], self.new_id()
        )
        async with self.store.db.transaction() as tx:
            await self.store.statuses.mark_deleted(tx, status.id, self.clock())
            await self._queue(tx, sender, activity, inboxes, status.id)
        self.wake_delivery()

    # -- relationships -----------------------------------------------------------------

    async def follow(self, follower: AccountRow, target: AccountRow) -> str:
        """Follow an account; returns the state: `accepted` or `pending` (a remote follow is
        pending until the remote's own Accept arrives, SECURITY.md checklist 15)."""
        if follower.id == target.id:
            raise UnprocessableEntity("an account cannot follow itself")
        if await self.store.blocks.blocks_either_way(follower.id, target.id):
            raise Forbidden("a block stands between these accounts")
        sender = await self._sender(follower)
        follow_id = self.new_id()
        activity = follow_activity(self.uri_of(follower), self.uri_of(target), follow_id)
        state = (
            "accepted" if target.is_local and not target.manually_approves_followers else "pending"
        )
        now = self.clock()
        async with self.store.db.transaction() as tx:
            await self.store.follows.add(
                tx,
                follow_id=follow_id,
                account_id=follower.id,
                target_account_id=target.id,
                uri=activity["id"],
                state=state,
                now=now,
            )
            if target.is_local:
                await self.store.notifications.add(
                    tx,
                    notification_id=self.new_id(),
                    account_id=target.id,
                    from_account_id=follower.id,
                    kind="follow" if state == "accepted" else "follow_request",
                    status_id=None,
                    now=now,
                )
            else:
                await self._queue(tx, sender, activity, plan_inboxes([(target.inbox_url, None)]))
        self.wake_delivery()
        follow = await self.store.follows.get(follower.id, target.id)
        return follow.state if follow else state

    async def unfollow(self, follower: AccountRow, target: AccountRow) -> None:
        follow = await self.store.follows.get(follower.id, target.id)
        if follow is None:
            raise NotFound("not following that account")
        sender = await self._sender(follower)
        async with self.store.db.transaction() as tx:
            await self.store.follows.remove(tx, follow.id)
            if not target.is_local:
                original = {
                    "id": follow.uri,
                    "type": "Follow",
                    "actor": self.uri_of(follower),
                    "object": self.uri_of(target),
                }
                undo = undo_activity(self.uri_of(follower), original, self.new_id())
                await self._queue(tx, sender, undo, plan_inboxes([(target.inbox_url, None)]))
        self.wake_delivery()

    async def answer_follow_request(
        self, target: AccountRow, follower: AccountRow, *, accept: bool
    ) -> None:
        follow = await self.store.follows.get(follower.id, target.id)
        if follow is None:
            raise NotFound("no follow request from that account")
        sender = await self._sender(target)
        async with self.store.db.transaction() as tx:
            if accept:
                await self.store.follows.accept(tx, follow.id)
            else:
                await self.store.follows.remove(tx, follow.id)
            await self.store.notifications.remove(
                tx,
                account_id=target.id,
                from_account_id=follower.id,
                kind="follow_request",
                status_id=None,
            )
            if not follower.is_local:
                original = {
                    "id": follow.uri,
                    "type": "Follow",
                    "actor": self.uri_of(follower),
                    "object": self.uri_of(target),
                }
                build = accept_activity if accept else reject_activity
                await self._queue(
                    tx,
                    sender,
                    build(self.uri_of(target), original, self.new_id()),
                    plan_inboxes([(follower.inbox_url, None)]),
                )
        self.wake_delivery()

    async def block(self, account: AccountRow, target: AccountRow) -> None:
        sender = await self._sender(account)
        block_id = self.new_id()
        activity = block_activity(self.uri_of(account), self.uri_of(target), block_id)
        async with self.store.db.transaction() as tx:
            await self.store.blocks.add(
                tx,
                block_id=block_id,
                account_id=account.id,
                target_account_id=target.id,
                uri=activity["id"],
                now=self.clock(),
            )
            await self.store.follows.remove_between(tx, account.id, target.id)
            if not target.is_local:
                await self._queue(tx, sender, activity, plan_inboxes([(target.inbox_url, None)]))
        self.wake_delivery()

    async def unblock(self, account: AccountRow, target: AccountRow) -> None:
        found = await self.store.blocks.get(account.id, target.id)
        if found is None:
            raise NotFound("that account is not blocked")
        block_id, block_uri = found
        sender = await self._sender(account)
        async with self.store.db.transaction() as tx:
            await self.store.blocks.remove(tx, block_id)
            if not target.is_local:
                original = {
                    "id": block_uri,
                    "type": "Block",
                    "actor": self.uri_of(account),
                    "object": self.uri_of(target),
                }
                undo = undo_activity(self.uri_of(account), original, self.new_id())
                await self._queue(tx, sender, undo, plan_inboxes([(target.inbox_url, None)]))
        self.wake_delivery()

    # -- reactions ---------------------------------------------------------------------

    async def favourite(self, account: AccountRow, status: StatusRow) -> None:
        if await self.store.favourites.get(account.id, status.id) is not None:
            return
        sender = await self._sender(account)
        author = await self._account(status.account_id)
        fav_id = self.new_id()
        like = like_activity(
            self.uri_of(account), await self.status_uri(status), self.uri_of(author), fav_id
        )
        async with self.store.db.transaction() as tx:
            await self.store.favourites.add(
                tx,
                fav_id=fav_id,
                account_id=account.id,
                status_id=status.id,
                uri=like["id"],
                now=self.clock(),
            )
            if author.is_local:
                if author.id != account.id:
                    await self.store.notifications.add(
                        tx,
                        notification_id=self.new_id(),
                        account_id=author.id,
                        from_account_id=account.id,
                        kind="favourite",
                        status_id=status.id,
                        now=self.clock(),
                    )
            else:
                await self._queue(tx, sender, like, plan_inboxes([(author.inbox_url, None)]))
        self.wake_delivery()

    async def unfavourite(self, account: AccountRow, status: StatusRow) -> None:
        found = await self.store.favourites.get(account.id, status.id)
        if found is None:
            return
        fav_id, like_uri = found
        sender = await self._sender(account)
        author = await self._account(status.account_id)
        async with self.store.db.transaction() as tx:
            await self.store.favourites.remove(tx, fav_id)
            await self.store.notifications.remove(
                tx,
                account_id=author.id,
                from_account_id=account.id,
                kind="favourite",
                status_id=status.id,
            )
            if not author.is_local:
                original = like_activity(
                    self.uri_of(account), await self.status_uri(status), self.uri_of(author), 0
                )
                original["id"] = like_uri
                undo = undo_activity(self.uri_of(account), original, self.new_id())
                await self._queue(tx, sender, undo, plan_inboxes([(author.inbox_url, None)]))
        self.wake_delivery()

    async def reblog(self, account: AccountRow, status: StatusRow) -> StatusRow:
        """Boost a status: public and unlisted ones, or one's own (SECURITY.md checklist 14)."""
        if status.reblog_of_id is not None:
            original = await self.store.statuses.by_id(status.reblog_of_id)
            if original is None:
                raise NotFound("the boosted status is gone")
            status = original
        if status.account_id != account.id and status.visibility not in ("public", "unlisted"):
            raise Forbidden("only public and unlisted statuses can be boosted")
        existing = await self.store.statuses.reblog_by(account.id, status.id)
        if existing is not None:
            return existing
        sender = await self._sender(account)
        author = await self._account(status.account_id)
        now = self.clock()
        reblog_id = self.new_id()
        followers_only = status.visibility == "private"  # only the author boosts those
        activity = announce_activity(
            self.uri_of(account),
            self.urls.followers(account.username),
            await self.status_uri(status),
            self.uri_of(author),
            self.urls.status_activity(account.username, reblog_id),
            isoformat(now),
            followers_only=followers_only,
        )
        feed = {account.id, *await self.store.follows.local_follower_ids(account.id)}
        recipients = await self._follower_inboxes(account)
        if not author.is_local:
            recipients.append((author.inbox_url, author.shared_inbox_url))
        async with self.store.db.transaction() as tx:
            await self.store.statuses.insert(
                tx,
                NewStatus(
                    id=reblog_id,
                    account_id=account.id,
                    uri=None,
                    url=None,
                    content="",
                    spoiler_text="",
                    visibility="private" if followers_only else "public",
                    sensitive=False,
                    language=None,
                    created_at=now,
                    reblog_of_id=status.id,
                ),
            )
            await self.store.statuses.add_to_feeds(tx, reblog_id, sorted(feed))
            if author.is_local and author.id != account.id:
                await self.store.notifications.add(
                    tx,
                    notification_id=self.new_id(),
                    account_id=author.id,
                    from_account_id=account.id,
                    kind="reblog",
                    status_id=status.id,
                    now=now,
                )
            await self._queue(tx, sender, activity, plan_inboxes(recipients), reblog_id)
        self.wake_delivery()
        reblog = await self.store.statuses.by_id(reblog_id)
        assert reblog is not None
        return reblog

    async def unreblog(self, account: AccountRow, status: StatusRow) -> None:
        reblog = await self.store.statuses.reblog_by(account.id, status.id)
        if reblog is None:
            return
        sender = await self._sender(account)
        author = await self._account(status.account_id)
        original = announce_activity(
            self.uri_of(account),
            self.urls.followers(account.username),
            await self.status_uri(status),
            self.uri_of(author),
            self.urls.status_activity(account.username, reblog.id),
            isoformat(reblog.created_at),
            followers_only=reblog.visibility == "private",
        )
        recipients = await self._follower_inboxes(account)
        if not author.is_local:
            recipients.append((author.inbox_url, author.shared_inbox_url))
        async with self.store.db.transaction() as tx:
            await self.store.statuses.delete(tx, reblog.id)
            await self.store.notifications.remove(
                tx,
                account_id=author.id,
                from_account_id=account.id,
                kind="reblog",
                status_id=status.id,
            )
            undo = undo_activity(self.uri_of(account), original, self.new_id())
            await self._queue(tx, sender, undo, plan_inboxes(recipients))
        self.wake_delivery()

    # -- account -----------------------------------------------------------------------

    async def pin(self, account: AccountRow, status: StatusRow, *, pinned: bool) -> None:
        """Pin or unpin one's own public or unlisted status (Add/Remove to featured)."""
        if status.account_id != account.id or status.visibility not in ("public", "unlisted"):
            raise UnprocessableEntity("only one's own public or unlisted statuses are pinned")
        sender = await self._sender(account)
        activity = collection_change(
            "Add" if pinned else "Remove",
            self.uri_of(account),
            self.urls.featured(account.username),
            await self.status_uri(status),
            self.new_id(),
        )
        async with self.store.db.transaction() as tx:
            if pinned:
                await self.store.pins.add(tx, account.id, status.id, self.clock())
            else:
                await self.store.pins.remove(tx, account.id, status.id)
            await self._queue(
                tx, sender, activity, plan_inboxes(await self._follower_inboxes(account))
            )
        self.wake_delivery()

    async def move(self, account: AccountRow, target: AccountRow) -> None:
        """Move this account's followers to `target`, which must list us in alsoKnownAs
        (the caller refreshes `target` from its origin first)."""
        if self.uri_of(account) not in target.also_known_as:
            raise UnprocessableEntity(
                f"{self.uri_of(target)} does not list {self.uri_of(account)} in alsoKnownAs"
            )
        sender = await self._sender(account)
        activity = move_activity(
            self.uri_of(account),
            self.urls.followers(account.username),
            self.uri_of(target),
            self.new_id(),
        )
        async with self.store.db.transaction() as tx:
            await self.store.accounts.set_moved_to(
                tx, account.id, self.uri_of(target), self.clock()
            )
            await self._queue(
                tx, sender, activity, plan_inboxes(await self._follower_inboxes(account))
            )
        self.wake_delivery()

    async def delete_account(self, account: AccountRow) -> None:
        """Delete a local account and tell its followers (Delete of the actor itself). The
        keys stay, so the Delete can still be signed; the name stays reserved."""
        sender = await self._sender(account)
        actor = self.uri_of(account)
        activity = delete_activity(
            actor, actor, ["https://www.w3.org/ns/activitystreams#Public"], [], self.new_id()
        )
        inboxes = plan_inboxes(await self._follower_inboxes(account))
        async with self.store.db.transaction() as tx:
            await self._queue(tx, sender, activity, inboxes)
        await self.store.accounts.mark_deleted(account.id, self.clock())
        self.wake_delivery()

    async def announce_profile(self, account: AccountRow, person: dict[str, Any]) -> None:
        """Send Update(Person) after a profile change (and after a key rotation)."""
        sender = await self._sender(account)
        activity = update_activity(
            self.uri_of(account),
            person,
            self.new_id(),
            ["https://www.w3.org/ns/activitystreams#Public"],
            [self.urls.followers(account.username)],
        )
        async with self.store.db.transaction() as tx:
            await self._queue(
                tx, sender, activity, plan_inboxes(await self._follower_inboxes(account))
            )
        self.wake_delivery()
