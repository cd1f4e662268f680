"""Delivering signed activities from fake peers to our running app, and judging the answer.

Shared by the server-level security tests (tests/inbox, tests/fedserver): a local user
for any app (not only the `app_client` fixture's), a Follow posted the way a peer posts
it, an RFC 9421 signature made by an independent library, and the one assertion every
refusal needs: the status, a JSON reason, and nothing stored.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientResponse
from cryptography.hazmat.primitives.asymmetric import rsa
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms

from actors.service import create_user
from fedserver.appkeys import clock_key, config_key, ids_key, store_key
from fedserver.db import LocalUser
from tests.conftest import Client
from tests.fakes.remote import FakePeer

LOCAL = "http://local.test"
ALICE = f"{LOCAL}/users/alice"
ALICE_INBOX = f"{ALICE}/inbox"


async def add_user(client: Client, username: str = "alice") -> LocalUser:
    """A local user in the app behind `client` (any config, unlike `make_user`)."""
    app = client.app
    return await create_user(
        app[store_key],
        app[ids_key],
        app[clock_key](),
        username=username,
        password="correct horse battery",
        email=None,
        is_admin=False,
        approved=True,
        reserved={app[config_key].instance.host},
    )


def follow_body(peer: FakePeer, name: str = "bob", **fields: Any) -> bytes:
    """A Follow of alice by `name`, with fields replaced (`actor=...`, `id=...`)."""
    activity = peer.activity(name, "Follow", ALICE)
    activity.update(fields)
    return json.dumps(activity).encode()


async def deliver(
    client: Client,
    peer: FakePeer,
    body: bytes | None = None,
    *,
    name: str = "bob",
    path: str = "/users/alice/inbox",
    sign_url: str | None = None,
    extra_headers: dict[str, str] | None = None,
    **sign_options: Any,
) -> ClientResponse:
    """POST `body` (default: a Follow of alice) signed by `name` the way `peer` signs.

    `sign_url` signs for another URL than the one posted to; `sign_options` go to
    `FakePeer.signed_headers` (`signed=`, `date=`, `key_id=`, `key=`, `digest_of=`).
    """
    if body is None:
        body = follow_body(peer, name)
    headers = peer.signed_headers("POST", sign_url or LOCAL + path, body, name=name, **sign_options)
    headers.update(extra_headers or {})
    # Over 1 MiB aiohttp wants a file-like body (bytes would warn, and warnings fail).
    data = io.BytesIO(body) if len(body) > 512 * 1024 else body
    return await client.post(path, data=data, headers=headers)


async def stored(client: Client) -> int:
    """How many activities the app's inbox queue holds."""
    return await client.app[store_key].inbox.count()


async def assert_refused(
    response: ClientResponse, status: int, code: str, *, mentions: str = ""
) -> str:
    """The response is `status` with the JSON error shape and `code`; returns the reason.

    `mentions`, when given, must appear in the reason (case-insensitive).
    """
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == "application/json", text
    error = json.loads(text)
    assert error["code"] == code, error
    reason = error["error"]
    assert isinstance(reason, str)
    assert len(reason) > 10, error
    assert mentions.lower() in reason.lower(), error
    return reason


async def assert_refused_and_nothing_stored(
    client: Client, response: ClientResponse, status: int, code: str, *, mentions: str = ""
) -> str:
    reason = await assert_refused(response, status, code, mentions=mentions)
    assert await stored(client) == 0
    return reason


async def raw_request(
    client: Client, method: str, path: str, headers: Sequence[tuple[str, str]], body: bytes = b""
) -> tuple[int, bytes]:
    """A request over a bare socket, headers exactly as given and encoded as latin-1
    (aiohttp's client folds a second Host into one, and refuses some bytes); returns
    the status and the body."""
    assert client.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    try:
        lines = [f"{method} {path} HTTP/1.1", *(f"{name}: {value}" for name, value in headers)]
        lines += [f"Content-Length: {len(body)}", "Connection: close"]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, content = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), content


@dataclass
class LibRequest:
    """The requests-style message `http_message_signatures` reads and writes."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


def rfc9421_headers(
    peer: FakePeer, url: str, body: bytes, *, name: str = "bob", label: str = "sig1"
) -> dict[str, str]:
    """POST headers signed with RFC 9421 by `http_message_signatures` (not our code):
    `@method @target-uri content-type content-digest`, rsa-v1_5-sha256, created now."""
    key = peer.actors[name].key
    assert isinstance(key, rsa.RSAPrivateKey)
    key_id = peer.key_id(name)
    message = LibRequest(
        "POST", url, {"Content-Type": peer.style.post_content_type, "Accept": "*/*"}
    )
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.RSA_V1_5_SHA256,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={key_id: key}),
    )
    signer.sign(
        message,
        key_id=key_id,
        created=peer.clock(),
        label=label,
        covered_component_ids=("@method", "@target-uri", "content-type"),
        body=body,
    )
    return message.headers
