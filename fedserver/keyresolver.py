"""keyId → public key of a confirmed owner (SECURITY.md R2), cached, coalesced, rotated.

1. The keyId (without fragment) is fetched through the guarded client, signed by the
   instance actor (GoToSocial and bovine answer 401 to unsigned GETs).
2. If that document is the owner actor itself (its id is the URL and it lists the key),
   done. Otherwise it is a key document, or GoToSocial's stub of the owner
   (PEERS.md: "never cache a key document as the actor"): its `owner` is fetched by its
   own id, and that actor must list the keyId in `publicKey`. The PEM used is the
   owner's copy. Never believe a key document's own claim of who owns it (Fedify
   CVE-2026-96625, Misskey #2546).
   An owner on a domain we block is refused (403) before it is fetched: a key
   document on any host must not be able to send us to a blocked one (SECURITY.md §6
   item 9: no outbound fetch to a blocked domain).
3. The parsed key is cached with an expiry; concurrent requests needing the same unknown
   key share one fetch. A verification failure with a cached key may force one refetch
   (key rotation), at most once per host per `refresh_interval` so a stream of bad
   signatures cannot turn us into a fetch amplifier (Mastodon: one per 5 minutes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fedserver.activitystreams import as_list
from fedserver.errors import FetchError, FetchRefused, Forbidden, SignatureInvalid
from fedserver.http import FetchStatusError, HttpClient, Signer
from fedserver.signatures import PublicKey, load_public_key
from fedserver.ttlcache import TtlCache

log = logging.getLogger(__name__)

# Actor types peers use; a document of another type never owns keys here.
ACTOR_TYPES = frozenset({"Person", "Service", "Application", "Group", "Organization"})


class KeyUnavailable(SignatureInvalid):
    """The key (or its owner) could not be fetched. `gone` when the peer said 404/410,
    which lets the inbox accept a Delete of an actor that no longer exists."""

    def __init__(self, detail: str, *, gone: bool) -> None:
        super().__init__(detail)
        self.gone = gone


@dataclass(frozen=True)
class ResolvedKey:
    key_id: str
    #: The actor that owns the key, confirmed both ways.
    owner: str
    public_key: PublicKey
    #: The owner's actor document as fetched from its own id.
    actor: dict[str, Any]


class KeyResolver:
    def __init__(
        self,
        client: HttpClient,
        signer: Signer,
        *,
        ttl_seconds: float = 12 * 3600,
        max_keys: int = 20_000,
        refresh_interval: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        is_blocked: Callable[[str], bool] = lambda url: False,
    ) -> None:
        self._client = client
        self._signer = signer
        #: The domain policy (`DomainPolicy.is_url_blocked`): a URL we must not fetch.
        self._is_blocked = is_blocked
        self._keys: TtlCache[str, ResolvedKey] = TtlCache(
            max_entries=max_keys, ttl_seconds=ttl_seconds, clock=clock
        )
        self._refreshed_hosts: TtlCache[str, bool] = TtlCache(
            max_entries=max_keys, ttl_seconds=refresh_interval, clock=clock
        )
        self._inflight: dict[str, asyncio.Future[ResolvedKey]] = {}
        #: How many key fetches were started (tests assert coalescing with it).
        self.fetches = 0

    async def resolve(self, key_id: str) -> tuple[ResolvedKey, bool]:
        """The key, and whether it was fetched just now (False: from the cache)."""
        cached = self._keys.get(key_id)
        if cached is not None:
            return cached, False
        return await self._fetch_shared(key_id), True

    async def refresh(self, key_id: str) -> ResolvedKey | None:
        """Refetch a cached key after a verification failure; None when the key's host
        was refreshed too recently."""
        host = urlsplit(key_id).hostname or ""
        if self._refreshed_hosts.get(host):
            return None
        self._refreshed_hosts.put(host, True)
        self._keys.pop(key_id)
        return await self._fetch_shared(key_id)

    async def _fetch_shared(self, key_id: str) -> ResolvedKey:
        pending = self._inflight.get(key_id)
        if pending is None:
            self.fetches += 1
            pending = asyncio.ensure_future(self._fetch(key_id))
            self._inflight[key_id] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(key_id, None))
        # shield: one waiter going away (a client disconnecting) must not cancel the
        # fetch the other waiters share.
        return await asyncio.shield(pending)

    async def _fetch(self, key_id: str) -> ResolvedKey:
        url = key_id.split("#", 1)[0]
        document = await self._get(url, key_id, require_id=False)
        entry = find_key(document, key_id)
        if entry is None:
            raise SignatureInvalid(f"{url} does not publish key {key_id}")
        owner = _string(entry.get("owner")) or _string(entry.get("controller"))
        if document.get("id") == url and is_actor(document) and owner in (None, url):
            actor = document
        else:
            if owner is None:
                raise SignatureInvalid(f"key {key_id} names no owner")
            if self._is_blocked(owner):
                raise Forbidden(f"{urlsplit(owner).hostname} is blocked here")
            actor = await self._get(owner, key_id, require_id=True)
            if not is_actor(actor):
                raise SignatureInvalid(f"owner {owner} of key {key_id} is not an actor")
            entry = find_key(actor, key_id)
            if entry is None:
                raise SignatureInvalid(f"owner {owner} does not list key {key_id}")
        actor_id = _string(actor.get("id"))
        assert actor_id is not None  # fetch_document checked it equals the URL
        pem = entry.get("publicKeyPem")
        if not isinstance(pem, str):
            raise SignatureInvalid(f"key {key_id} has no publicKeyPem")
        resolved = ResolvedKey(
            key_id=key_id, owner=actor_id, public_key=load_public_key(pem), actor=actor
        )
        self._keys.put(key_id, resolved)
        return resolved

    async def _get(self, url: str, key_id: str, *, require_id: bool) -> dict[str, Any]:
        try:
            return await self._client.fetch_document(
                url, signer=self._signer, require_id=require_id
            )
        except FetchStatusError as exc:
            raise KeyUnavailable(
                f"could not fetch key {key_id}: {url} answered {exc.response_status}",
                gone=exc.is_gone,
            ) from None
        except FetchRefused as exc:
            # The precise reason names the addresses our DNS returned: useful to the
            # operator, not to whoever sent the request.
            log.info("key fetch of %s refused: %s", url, exc.detail)
            raise KeyUnavailable(
                f"could not fetch key {key_id}: the address is not allowed", gone=False
            ) from None
        except FetchError as exc:
            raise KeyUnavailable(
                f"could not fetch key {key_id}: {exc.detail}", gone=False
            ) from None


def find_key(document: dict[str, Any], key_id: str) -> dict[str, Any] | None:
    """The key entry with id `key_id`: the document itself (a standalone key) or one of
    its `publicKey` entries (one object or a list)."""
    if document.get("id") == key_id and "publicKeyPem" in document:
        return document
    for entry in as_list(document.get("publicKey")):
        if isinstance(entry, dict) and entry.get("id") == key_id:
            return entry
    return None


def is_actor(document: dict[str, Any]) -> bool:
    kinds = {kind for kind in as_list(document.get("type")) if isinstance(kind, str)}
    return bool(kinds & ACTOR_TYPES) and isinstance(document.get("inbox"), str)


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
