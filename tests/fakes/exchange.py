"""Talking to our running app as fake peers do, and checking what it sends back.

`Exchange` wraps the app behind a test client: `send` POSTs an activity signed the way
the peer signs (tests/fakes/remote.py), `process` runs the inbox worker and the delivery
worker until both are idle (no sleeping: the clock is frozen and the workers are driven),
and `verify` checks a request the app sent to a peer against the key our actor document
publishes, the way the peer would.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from fedserver.appkeys import clock_key, delivery_worker_key, inbox_worker_key, store_key
from fedserver.db import AccountRow, StatusRow, Store
from fedserver.signatures import PublicKey, SignedRequest, load_public_key, verify_request
from tests.conftest import Client
from tests.fakes.remote import ACTIVITY_JSON, FakePeer, Received

LOCAL = "http://local.test"


@dataclass
class Exchange:
    client: Client

    @property
    def store(self) -> Store:
        return self.client.app[store_key]

    async def send(
        self,
        peer: FakePeer,
        activity: dict[str, Any],
        *,
        name: str | None = None,
        path: str = "/users/alice/inbox",
    ) -> int:
        """POST `activity` to `path`, signed by `name` (default: the activity's actor)."""
        if name is None:
            name = str(activity["actor"]).rsplit("/", 1)[-1]
        body = json.dumps(activity).encode()
        headers = peer.signed_headers("POST", LOCAL + path, body, name=name)
        # Over 512 KiB aiohttp wants a file-like body (bytes would warn; warnings fail).
        data = io.BytesIO(body) if len(body) > 512 * 1024 else body
        response = await self.client.post(path, data=data, headers=headers)
        return response.status

    async def process(self) -> None:
        """Run the inbox worker and the delivery worker until neither has work."""
        app = self.client.app
        for _ in range(20):
            handled = await app[inbox_worker_key].run_once()
            handled += await app[delivery_worker_key].run_until_idle(app[clock_key]())
            if not handled:
                return
        raise AssertionError("the workers never became idle")

    async def deliver(self, peer: FakePeer, activity: dict[str, Any], **options: Any) -> None:
        """`send` (which must be accepted with 202), then `process`."""
        status = await self.send(peer, activity, **options)
        assert status == 202, status
        await self.process()

    async def inbox_log(self) -> list[tuple[str, str, str | None]]:
        items = await self.store.inbox.items(limit=1000)
        return [(i.activity_type, i.state, i.last_error) for i in reversed(items)]

    async def local(self, username: str) -> AccountRow:
        user = await self.store.accounts.local_user(username)
        assert user is not None
        return user.account

    async def remote(self, uri: str) -> AccountRow:
        account = await self.store.remote_accounts.by_uri(uri)
        assert account is not None, uri
        return account

    async def status(self, uri: str) -> StatusRow | None:
        return await self.store.statuses.by_uri(uri)

    async def published_key(self, username: str) -> tuple[str, PublicKey]:
        """(key id, key) as our actor document publishes them to peers."""
        response = await self.client.get(f"/users/{username}", headers={"Accept": ACTIVITY_JSON})
        assert response.status == 200
        document = await response.json()
        key = document["publicKey"]
        assert key["owner"] == document["id"]
        return key["id"], load_public_key(key["publicKeyPem"])

    async def verify(self, received: Received, username: str) -> SignedRequest:
        """Check a request we sent as the peer would: signed by `username`'s published
        key over (request-target), host, date and digest, with a fresh date."""
        key_id, key = await self.published_key(username)
        host = received.headers["Host"]
        signed = verify_request(
            received.method,
            received.path,
            received.headers.items(),
            received.body,
            host=host,
            target_uri=f"http://{host}{received.path}",
            public_key=key,
            now=self.client.app[clock_key](),
        )
        assert signed.key_id == key_id
        return signed
