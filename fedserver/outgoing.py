"""Queueing an outgoing activity: proof, one serialisation, delivery rows, one transaction.

Every activity we send carries an FEP-8b32 integrity proof made with the sender's Ed25519
key (https://codeberg.org/fediverse/fep/src/branch/main/fep/8b32/fep-8b32.md), is
serialised once for the whole fan-out, and its delivery rows are written in the caller's
transaction, next to the state change they announce: either both happen or neither.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fedserver.db import Store
from fedserver.db.database import Transaction
from fedserver.ids import IdGenerator
from fedserver.keypairs import SigningKeys
from fedserver.signatures import create_proof
from fedserver.urls import LocalUrls


@dataclass(frozen=True)
class Sender:
    """A local actor able to sign: who sends, with which keys."""

    account_id: int
    username: str
    keys: SigningKeys

    def actor_uri(self, urls: LocalUrls) -> str:
        return urls.actor(self.username)


def with_proof(
    activity: dict[str, Any], sender: Sender, urls: LocalUrls, now: datetime
) -> dict[str, Any]:
    """The activity with an `eddsa-jcs-2022` DataIntegrityProof by the sender."""
    return create_proof(
        activity,
        sender.keys.ed25519,
        verification_method=urls.ed25519_key(sender.username),
        created=now,
    )


async def queue_activity(
    tx: Transaction,
    store: Store,
    *,
    activity: dict[str, Any],
    sender: Sender,
    inboxes: list[str],
    urls: LocalUrls,
    now: datetime,
    new_id: IdGenerator,
    status_id: int | None = None,
) -> None:
    """Sign (proof), serialise once, and enqueue one delivery per inbox."""
    body = json.dumps(with_proof(activity, sender, urls, now), ensure_ascii=False)
    await store.deliveries.enqueue(
        tx,
        activity_id=activity["id"],
        sender_account_id=sender.account_id,
        body=body,
        inboxes=inboxes,
        status_id=status_id,
        now=now,
        new_id=new_id,
    )
