"""What every local action works with: the services an `Outbox` is built from, and the
helpers the actions in outbox/actions/ share (URIs, the sending account, queueing an activity
in the caller's transaction, the inboxes of remote followers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fedserver.config import LimitsConfig
from fedserver.db import AccountRow, StatusRow, Store
from fedserver.db.database import Transaction
from fedserver.errors import Forbidden, NotFound
from fedserver.ids import Clock, IdGenerator
from fedserver.keypairs import LocalKeys
from fedserver.outgoing import Sender, queue_activity
from fedserver.urls import LocalUrls


@dataclass
class OutboxContext:
    store: Store
    urls: LocalUrls
    local_keys: LocalKeys
    new_id: IdGenerator
    clock: Clock
    domain: str
    limits: LimitsConfig
    #: Called after a commit that queued deliveries: the worker starts at once.
    wake_delivery: Callable[[], None]
    #: Called with a local account's id after its profile, state or keys were written:
    #: the server drops what it cached of local actors (fedserver/localactors.py).
    account_changed: Callable[[int], None] = lambda account_id: None

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
