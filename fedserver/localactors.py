"""A per-process cache of local actors for the federation read paths (actor documents,
WebFinger, the collections), which peers hit far more often than anything changes.

Each database trip costs ~50 µs of CPU (bench/README.md), as much as the rest of an actor
GET, so the cache keeps:

* **the local user row by name, for at most `USER_TTL_SECONDS` (1 s)**, plus whatever a
  view renders from it (`CachedUser.memo`: the encoded Person, the WebFinger JRD), which is
  replaced together with the row. Staleness bound: a change made through this server
  (`PATCH /api/v1/accounts/update_credentials`, moving or deleting an account through the
  outbox) calls `invalidate` and shows at once; a change written by another process (the
  `fedserver` CLI) or by SQL outside the data layer shows within 1 s. Unknown names are
  not cached, so a new user is found at once.
* **the parsed public keys per account**, with no expiry: key pairs are written once, when
  the account is created (there is no key rotation yet; a rotation must call
  `invalidate`).

A load that started before an `invalidate` is not stored (a generation counter), so a
read racing a write cannot put the old row back for another second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fedserver.db import LocalUser
from fedserver.db.accounts import Accounts
from fedserver.keypairs import PublicKeys, public_keys_from
from fedserver.ttlcache import TtlCache

#: How long a local user row is served from memory (the staleness bound above).
USER_TTL_SECONDS = 1.0
#: Names kept; least recently used first out (only existing users are stored).
MAX_USERS = 10_000


@dataclass
class CachedUser:
    """One cached row and what views rendered from it (valid exactly as long as the row)."""

    user: LocalUser
    memo: dict[str, Any] = field(default_factory=dict)


class LocalActors:
    def __init__(
        self,
        accounts: Accounts,
        *,
        ttl_seconds: float = USER_TTL_SECONDS,
        max_users: int = MAX_USERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._accounts = accounts
        self._users: TtlCache[str, CachedUser] = TtlCache(
            max_entries=max_users, ttl_seconds=ttl_seconds, clock=clock
        )
        self._keys: dict[int, PublicKeys] = {}
        self._generation = 0

    async def user(self, username: str) -> CachedUser | None:
        """The local user named `username` (case-insensitive, deleted ones included)."""
        # SQLite's lower() folds ASCII only; str.lower() folds more (the Kelvin sign
        # becomes "k"), so only ASCII names go through the cache, keyed as SQLite matches.
        key = username.lower() if username.isascii() else None
        if key is not None:
            cached = self._users.get(key)
            if cached is not None:
                return cached
        generation = self._generation
        user = await self._accounts.local_user(username)
        if user is None:
            return None
        cached = CachedUser(user)
        if key is not None and generation == self._generation:
            self._users.put(key, cached)
        return cached

    async def public_keys(self, account_id: int) -> PublicKeys:
        """The keys an actor document publishes, parsed once per account."""
        keys = self._keys.get(account_id)
        if keys is None:
            generation = self._generation
            rows = await self._accounts.keypairs(account_id)
            if not rows:
                raise LookupError(f"no keys stored for account {account_id}")
            keys = public_keys_from(rows)
            if generation == self._generation:
                self._keys[account_id] = keys
        return keys

    def invalidate(self, account_id: int | None = None) -> None:
        """Forget every cached row (profile changes are rare) and the keys of `account_id`
        (all keys when None). Call it after any write to a local account or its keys."""
        self._generation += 1
        self._users.clear()
        if account_id is None:
            self._keys.clear()
        else:
            self._keys.pop(account_id, None)
