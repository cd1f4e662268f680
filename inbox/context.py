"""What processing one inbox activity may use, and its fetch budget."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from actors.remote import RemoteActors
from fedserver.config import Config
from fedserver.db import AccountRow, Store
from fedserver.errors import InvalidActivity
from fedserver.http import HttpClient, Signer
from fedserver.ids import IdGenerator
from fedserver.keypairs import LocalKeys
from fedserver.outgoing import Sender
from fedserver.urls import LocalUrls

#: Outbound fetches one inbound activity may cause (Lemmy's default is 20, SECURITY.md R8).
MAX_FETCHES_PER_ACTIVITY = 20
#: How far up a reply chain we fetch parents (Mastodon fetches synchronously only a few).
MAX_REPLY_DEPTH = 8


class FetchBudget:
    def __init__(self, fetches: int = MAX_FETCHES_PER_ACTIVITY) -> None:
        self.remaining = fetches

    def take(self) -> None:
        if self.remaining <= 0:
            raise InvalidActivity(
                f"more than {MAX_FETCHES_PER_ACTIVITY} fetches needed for one activity"
            )
        self.remaining -= 1


@dataclass
class InboxContext:
    store: Store
    actors: RemoteActors
    client: HttpClient
    instance_signer: Signer
    local_keys: LocalKeys
    urls: LocalUrls
    config: Config
    now: datetime
    new_id: IdGenerator
    budget: FetchBudget

    async def sender(self, account: AccountRow) -> Sender:
        """A local account as the signer of what we send in reply."""
        return Sender(account.id, account.username, await self.local_keys.get(account.id))

    def actor_uri(self, account: AccountRow) -> str:
        return self.urls.account_uri(account.username, account.domain, account.uri)
