"""Filling a server's database before it starts, through the data layer.

Single objects (the local user, the OAuth token, queued inbox items and deliveries) go
through the repositories' own methods. Bulk rows (remote accounts, follows, a million
statuses with their home-feed and notification rows) go through the same gateway in
batched transactions: `store.db.transaction()` and `Transaction.execute_many`, 10,000
rows per statement, which is what makes a million statuses take seconds rather than
the hours one HTTP request each would.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from actors.service import create_user
from fedserver.db import LocalUser, Store
from fedserver.ids import IdGenerator, isoformat
from fedserver.keypairs import LocalKeys
from fedserver.outgoing import Sender, queue_activity
from fedserver.urls import LocalUrls
from outbox.build import create_activity

BATCH = 10_000


@dataclass(frozen=True)
class RemoteAccount:
    uri: str
    username: str
    #: host:port, as the server derives it from the actor id.
    domain: str
    inbox: str
    shared_inbox: str | None
    public_key_pem: str


@dataclass(frozen=True)
class Prepared:
    """What a scenario needs to know about the database it prepared."""

    user: LocalUser
    token: str
    remote_ids: dict[str, int]


async def open_store(database: Path) -> Store:
    store = await Store.open(database)
    await store.migrate()
    return store


async def local_user(store: Store, new_id: IdGenerator, username: str = "alice") -> LocalUser:
    """A local user made as `fedserver user create` makes one (keys and all)."""
    return await create_user(
        store,
        new_id,
        datetime.now(UTC),
        username=username,
        password=secrets.token_urlsafe(16),
        email=None,
        is_admin=True,
        approved=True,
        reserved=set(),
    )


async def api_token(store: Store, new_id: IdGenerator, user: LocalUser) -> str:
    """An access token for `user` with read and write scopes."""
    now = datetime.now(UTC)
    app = await store.oauth.create_app(
        app_id=new_id(),
        name="bench",
        website=None,
        redirect_uris=["urn:ietf:wg:oauth:2.0:oob"],
        scopes="read write follow",
        client_id=secrets.token_urlsafe(24),
        client_secret=secrets.token_urlsafe(24),
        now=now,
    )
    token = secrets.token_urlsafe(32)
    await store.oauth.create_token(
        token_id=new_id(),
        token=token,
        app_id=app.id,
        user_id=user.user.id,
        scopes="read write follow",
        now=now,
    )
    return token


def _batches(rows: Sequence[tuple[Any, ...]]) -> Iterator[Sequence[tuple[Any, ...]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


async def remote_accounts(
    store: Store, new_id: IdGenerator, accounts: Sequence[RemoteAccount]
) -> dict[str, int]:
    """Known remote actors, fetched just now (so the server does not refetch them);
    returns their account ids by URI."""
    stamp = isoformat(datetime.now(UTC))
    ids = {account.uri: new_id() for account in accounts}
    rows = [
        (
            ids[a.uri],
            a.uri,
            a.username,
            a.domain,
            a.uri.replace("/users/", "/@"),
            a.inbox,
            a.shared_inbox,
            a.uri + "/outbox",
            a.uri + "/followers",
            a.uri + "/following",
            a.username.title(),
            a.uri + "#main-key",
            a.public_key_pem,
            stamp,
            stamp,
            stamp,
        )
        for a in accounts
    ]
    for batch in _batches(rows):
        async with store.db.transaction() as tx:
            await tx.execute_many(
                "INSERT INTO accounts (id, uri, username, domain, url, inbox_url,"
                " shared_inbox_url, outbox_url, followers_url, following_url, display_name,"
                " public_key_id, public_key_pem, fetched_at, updated_at, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                batch,
            )
    return ids


async def follows(store: Store, new_id: IdGenerator, pairs: Sequence[tuple[int, int]]) -> None:
    """Accepted follows, (follower account id, followed account id)."""
    stamp = isoformat(datetime.now(UTC))
    rows = [(new_id(), follower, target, stamp) for follower, target in pairs]
    for batch in _batches(rows):
        async with store.db.transaction() as tx:
            await tx.execute_many(
                "INSERT INTO follows (id, account_id, target_account_id, state, created_at)"
                " VALUES (?, ?, ?, 'accepted', ?)",
                batch,
            )


CONTENT = (
    "<p>A stored status for the read benchmark. It is about as long as a typical post, "
    'with a <a href="https://example.org/">link</a> and some words to make it so.</p>'
)


async def statuses(
    store: Store,
    *,
    authors: Sequence[tuple[int, str]],
    count: int,
    viewer_id: int,
    mention_every: int = 10,
) -> int:
    """`count` public statuses by `authors` ((account id, actor URI), round robin), all in
    the viewer's home feed, every `mention_every`-th mentioning the viewer with a
    notification. Ids are time-sortable and one second apart, oldest first, so the
    newest status is about now. Returns the id of the newest."""
    end = datetime.now(UTC) - timedelta(seconds=1)
    start_ms = int((end - timedelta(seconds=count)).timestamp() * 1000)
    newest = 0
    for first in range(0, count, BATCH):
        status_rows = []
        feed_rows = []
        mention_rows = []
        notification_rows = []
        for index in range(first, min(count, first + BATCH)):
            moment_ms = start_ms + index * 1000
            status_id = moment_ms << 16
            newest = status_id
            account_id, actor_uri = authors[index % len(authors)]
            created = isoformat(datetime.fromtimestamp(moment_ms / 1000, UTC))
            status_rows.append(
                (
                    status_id,
                    account_id,
                    f"{actor_uri}/statuses/{index}",
                    f"{actor_uri}/{index}",
                    CONTENT,
                    "public",
                    "en",
                    created,
                )
            )
            feed_rows.append((viewer_id, status_id))
            if index % mention_every == 0:
                mention_rows.append((status_id, viewer_id))
                notification_rows.append(
                    (status_id | 1, viewer_id, account_id, "mention", status_id, created)
                )
        async with store.db.transaction() as tx:
            await tx.execute_many(
                "INSERT INTO statuses (id, account_id, uri, url, content, visibility,"
                " language, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                status_rows,
            )
            await tx.execute_many(
                "INSERT INTO home_feed (account_id, status_id) VALUES (?, ?)", feed_rows
            )
            await tx.execute_many(
                "INSERT INTO mentions (status_id, account_id) VALUES (?, ?)", mention_rows
            )
            await tx.execute_many(
                "INSERT INTO notifications (id, account_id, from_account_id, type,"
                " status_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                notification_rows,
            )
    return newest


async def own_statuses(store: Store, *, account_id: int, count: int) -> None:
    """`count` local public statuses of one account (its profile and statuses list)."""
    end = datetime.now(UTC) - timedelta(seconds=1)
    start_ms = int((end - timedelta(seconds=count)).timestamp() * 1000)
    rows = []
    for index in range(count):
        moment_ms = start_ms + index * 1000
        created = isoformat(datetime.fromtimestamp(moment_ms / 1000, UTC))
        rows.append(((moment_ms << 16) | 2, account_id, CONTENT, "public", "en", created))
    for batch in _batches(rows):
        async with store.db.transaction() as tx:
            await tx.execute_many(
                "INSERT INTO statuses (id, account_id, content, visibility, language,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                batch,
            )


async def inbox_items(
    store: Store, new_id: IdGenerator, items: Sequence[tuple[str, str, str, str]]
) -> int:
    """Received activities waiting to be processed, each stored by the inbox's own
    `enqueue` (one transaction each, as the inbox does): (activity id, type, actor URI,
    body). Returns how many were stored."""
    stored = 0
    now = datetime.now(UTC)
    for activity_id, kind, actor_uri, body in items:
        stored += await store.inbox.enqueue(
            item_id=new_id(),
            activity_id=activity_id,
            activity_type=kind,
            actor_uri=actor_uri,
            key_id=actor_uri + "#main-key",
            recipient_account_id=None,
            body=body,
            now=now,
        )
    return stored


async def deliveries(
    store: Store,
    new_id: IdGenerator,
    *,
    user: LocalUser,
    base_url: str,
    inboxes: Sequence[str],
    activities: int,
) -> int:
    """`activities` Create(Note)s of `user`, each queued for every inbox by the outbox's
    own `queue_activity` (proof, one serialisation, one delivery row per inbox).
    Returns the number of delivery rows."""
    urls = LocalUrls(base_url)
    keys = await LocalKeys(store.accounts.keypairs).get(user.account.id)
    sender = Sender(user.account.id, user.username, keys)
    now = datetime.now(UTC)
    for serial in range(activities):
        status_id = new_id()
        note = {
            "id": urls.status(user.username, status_id),
            "type": "Note",
            "attributedTo": urls.actor(user.username),
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "cc": [urls.followers(user.username)],
            "content": f"<p>Queued note {serial} of the backlog benchmark.</p>",
            "published": isoformat(now),
        }
        activity = create_activity(note, urls.status_activity(user.username, status_id))
        async with store.db.transaction() as tx:
            await queue_activity(
                tx,
                store,
                activity=activity,
                sender=sender,
                inboxes=list(inboxes),
                urls=urls,
                now=now,
                new_id=new_id,
            )
    return activities * len(inboxes)
