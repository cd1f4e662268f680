"""Remote actors: fetched through the guarded client, signed by the instance actor,
stored, and refreshed when older than a day.

Only a document fetched from the actor's own id is stored (the client checks the id);
documents embedded by others are never trusted as an actor (SECURITY.md R4, R6).
`user@host` names are resolved through WebFinger on that host, and the actor found must
live on that same host (Fedify 0.13.1: a WebFinger alias on another host is not proof).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from actors.parse import advertises_rfc9421, parse_actor
from fedserver.activitystreams import ACTIVITY_JSON
from fedserver.db import AccountRow, Store
from fedserver.domains import DomainPolicy
from fedserver.errors import Forbidden, Gone, InvalidActivity, NotFound
from fedserver.http import FetchStatusError, HttpClient, Signer
from fedserver.ids import Clock, IdGenerator
from fedserver.ttlcache import TtlCache
from fedserver.urls import LocalUrls

REFRESH_AFTER = timedelta(days=1)
#: Fresh remote accounts kept in memory (each row is a few KiB with its key), and how long:
#: an active actor's activities then cost no read of its account. Every change made
#: through this class (`remember`, `mark_deleted`) empties it.
CACHE_ENTRIES = 4096
CACHE_SECONDS = 60.0
_SELF_TYPES = {ACTIVITY_JSON, "application/ld+json"}


class RemoteActors:
    def __init__(
        self,
        store: Store,
        client: HttpClient,
        signer: Signer,
        *,
        urls: LocalUrls,
        policy: DomainPolicy,
        new_id: IdGenerator,
        clock: Clock,
    ) -> None:
        self._store = store
        self._client = client
        self._signer = signer
        self._urls = urls
        self._policy = policy
        self._new_id = new_id
        self._clock = clock
        self._cache: TtlCache[str, AccountRow] = TtlCache(
            max_entries=CACHE_ENTRIES, ttl_seconds=CACHE_SECONDS
        )
        # Bumped by every change: a read that a change overtook is not cached.
        self._generation = 0

    def is_local(self, uri: str) -> bool:
        return uri.startswith(self._urls.base_url + "/")

    def is_blocked(self, uri: str) -> bool:
        """Whether `uri` is on a domain we do not federate with (never fetch from it)."""
        return self._policy.is_url_blocked(uri)

    async def get(self, uri: str, *, refresh: bool = False) -> AccountRow:
        """The account for an actor URI, local or remote; fetched when unknown or stale.

        Raises Forbidden (blocked domain), NotFound/Gone (the actor does not exist),
        FetchError (the remote misbehaved) and InvalidActivity (not an actor).
        """
        if self.is_local(uri):
            return await self._local(uri)
        if self._policy.is_url_blocked(uri):
            raise Forbidden(f"{urlsplit(uri).hostname} is blocked here")
        known = await self.known(uri)
        if known is not None and not refresh and not self._stale(known, self._clock()):
            return known
        try:
            document = await self._client.fetch_document(uri, signer=self._signer)
        except FetchStatusError as exc:
            if exc.is_gone and known is not None:
                await self.mark_deleted(known)
                raise Gone(f"actor {uri} is gone") from None
            if exc.is_gone:
                raise NotFound(f"actor {uri} does not exist") from None
            if known is not None:
                return known  # keep using what we have while the peer has trouble
            raise
        return await self.remember(document)

    async def known(self, uri: str) -> AccountRow | None:
        """The stored remote account for `uri` as it is (stale or deleted included),
        without fetching: from memory while it is fresh, else one read."""
        cached = self._cache.get(uri)
        if cached is not None and not self._stale(cached, self._clock()):
            return cached
        generation = self._generation
        account = await self._store.remote_accounts.by_uri(uri)
        if (
            account is not None
            and generation == self._generation
            and not self._stale(account, self._clock())
        ):
            self._cache.put(uri, account)
        return account

    async def remember(self, document: dict[str, Any]) -> AccountRow:
        """Store an actor document that was fetched from its own id."""
        actor = parse_actor(document)
        if advertises_rfc9421(document):
            self._client.mark_rfc9421_supported(urlsplit(actor.uri).hostname or "")
        self.forget_all()
        try:
            return await self._store.remote_accounts.upsert(
                actor, new_id=self._new_id(), now=self._clock()
            )
        finally:
            self.forget_all()

    async def mark_deleted(self, account: AccountRow, now: datetime | None = None) -> None:
        """A remote actor is gone (it said so, or its id answers 410): keep a deleted
        row. Use this rather than the store's, so that no stale copy is served."""
        self.forget_all()
        try:
            await self._store.remote_accounts.mark_deleted(account.id, now or self._clock())
        finally:
            self.forget_all()

    def forget_all(self) -> None:
        """An account changed: forget every cached one (an upsert may also move a row
        to another URI). Changes are rare next to reads: an actor is refreshed daily."""
        self._generation += 1
        self._cache = TtlCache(max_entries=CACHE_ENTRIES, ttl_seconds=CACHE_SECONDS)

    async def resolve_acct(self, acct: str) -> AccountRow:
        """`user@host` (or `@user@host`, `acct:user@host`) → the account, via WebFinger."""
        username, _, host = acct.removeprefix("acct:").lstrip("@").partition("@")
        if not username or not host or "/" in host:
            raise InvalidActivity(f"{acct!r} is not a user@host name")
        host = host.lower()
        if host == urlsplit(self._urls.base_url).netloc:
            return await self._local(self._urls.actor(username))
        if self._policy.is_blocked(host):
            raise Forbidden(f"{host} is blocked here")
        scheme = "http" if self._client.policy.allow_http else "https"
        resource = quote(f"acct:{username}@{host}", safe="@:")
        try:
            jrd = await self._client.fetch_json(
                f"{scheme}://{host}/.well-known/webfinger?resource={resource}"
            )
        except FetchStatusError as exc:
            if exc.is_gone:
                raise NotFound(f"no account {username}@{host}") from None
            raise
        actor_uri = self_link(jrd)
        if actor_uri is None:
            raise NotFound(f"{host} has no ActivityPub actor for {username}")
        if urlsplit(actor_uri).netloc.lower() != host:
            raise InvalidActivity(f"WebFinger for {username}@{host} points to another host")
        return await self.get(actor_uri)

    async def _local(self, uri: str) -> AccountRow:
        prefix = self._urls.base_url + "/users/"
        name = uri[len(prefix) :] if uri.startswith(prefix) else ""
        user = await self._store.accounts.local_user(name) if name and "/" not in name else None
        if user is None or user.account.is_deleted:
            raise NotFound(f"no local actor {uri}")
        return user.account

    @staticmethod
    def _stale(account: AccountRow, now: datetime) -> bool:
        return account.fetched_at is None or now - account.fetched_at > REFRESH_AFTER


def self_link(jrd: dict[str, Any]) -> str | None:
    """The ActivityPub actor URL of a WebFinger document (its `self` link)."""
    links = jrd.get("links")
    if not isinstance(links, list):
        return None
    for link in links:
        if (
            isinstance(link, dict)
            and link.get("rel") == "self"
            and str(link.get("type", "")).split(";")[0].strip() in _SELF_TYPES
            and isinstance(link.get("href"), str)
        ):
            href: str = link["href"]
            return href
    return None
