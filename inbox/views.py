"""The inboxes: verify, bind the signer to the actor, persist, answer 202.

Nothing is processed before the activity is safely stored (Takahē's shape, SECURITY.md
§4): the answer 202 means "stored durably", and a redelivery of the same activity id is
answered 202 again with nothing changed. Processing happens later, from the queue.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from actors.remote import REFRESH_AFTER
from fedserver.appkeys import clock_key, ids_key, inbox_worker_key, remote_actors_key, store_key
from fedserver.authentication import authenticate
from fedserver.db.deliveries import delivery_host
from fedserver.errors import (
    BadRequest,
    Gone,
    InvalidActivity,
    NotFound,
    SignatureInvalid,
    UnsupportedMediaType,
)
from fedserver.keyresolver import KeyUnavailable
from inbox.parse import Envelope, parse_envelope, same_host

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

# PEERS.md: GoToSocial posts ld+json, others activity+json; plain JSON is accepted too,
# since refusing it protects nothing once the signature and digest are checked.
ACCEPTED_CONTENT_TYPES = frozenset(
    {"application/activity+json", "application/ld+json", "application/json"}
)


@routes.post("/inbox", name="shared_inbox")
async def shared_inbox(request: web.Request) -> web.Response:
    return await receive(request, recipient_account_id=None)


@routes.post("/users/{username}/inbox", name="inbox")
async def user_inbox(request: web.Request) -> web.Response:
    username = request.match_info["username"]
    user = await request.app[store_key].accounts.local_user(username)
    if user is None:
        raise NotFound(f"no user named {username!r}")
    if user.account.is_deleted:
        raise Gone(f"{user.username} was deleted")
    return await receive(request, recipient_account_id=user.account.id)


async def receive(request: web.Request, *, recipient_account_id: int | None) -> web.Response:
    if request.content_type not in ACCEPTED_CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type {request.content_type!r} is not application/activity+json"
        )
    body = await request.read()  # over limits.max_body_bytes: 413 before parsing
    try:
        signer = await authenticate(request, body)
    except KeyUnavailable as exc:
        if exc.gone and _is_self_delete(body):
            # The actor is gone and so is its key: a Delete of itself cannot be verified
            # and needs no work (we keep nothing of actors we cannot fetch). Mastodon
            # and Akkoma answer 202 here too, so the sender stops retrying.
            return web.Response(status=202)
        raise
    envelope = parse_envelope(body)
    check_binding(envelope, signer.actor_uri)
    # Keep the signer's actor before the activity is queued: the worker may take the item
    # at once, and should find the actor rather than fetch it a second time.
    await _after_signed_request(request, signer.actor_uri, signer.actor)
    app = request.app
    item_id = app[ids_key]()
    stored = await app[store_key].inbox.enqueue(
        item_id=item_id,
        activity_id=envelope.id,
        activity_type=envelope.type,
        actor_uri=envelope.actor,
        key_id=signer.key_id,
        recipient_account_id=recipient_account_id,
        body=body.decode("utf-8"),
        now=app[clock_key](),
    )
    if not stored:
        log.info("duplicate delivery of %s ignored", envelope.id)
        return web.Response(status=202)
    # The worker takes the document as parsed here rather than parse the stored body.
    app[inbox_worker_key].received(item_id, envelope)
    return web.Response(status=202)


async def _after_signed_request(
    request: web.Request, actor_uri: str, actor: dict[str, Any]
) -> None:
    """A verified peer spoke: keep its actor document (fetched from its own id by the key
    resolver, so trustworthy) and clear any 'unavailable' mark on its host (Mastodon
    clears it on any signed request from the host)."""
    store = request.app[store_key]
    remote_actors = request.app[remote_actors_key]
    # From memory for an actor seen in the last minute (the worker reads it there too).
    known = await remote_actors.known(actor_uri)
    stale = (
        known is None
        or known.fetched_at is None
        or (request.app[clock_key]() - known.fetched_at > REFRESH_AFTER)
    )
    if stale:
        try:
            await remote_actors.remember(actor)
        except InvalidActivity as exc:
            log.info("not keeping actor %s: %s", actor_uri, exc.detail)
    # Mastodon clears both the failure days and the mark on any signed request from the
    # host; mark_available is one cheap read when there is nothing to clear, and none
    # when the host was found clean a moment ago.
    await store.deliveries.mark_available(delivery_host(actor_uri))


def check_binding(envelope: Envelope, signer: str) -> None:
    """SECURITY.md R3: the key's owner must be the activity's actor, and the activity id
    must live on the actor's host (else it could reserve another's id, Fedify GHSA-4qhx).

    Forwarded activities (signed by someone else) are refused for now; accepting them
    by refetching from the origin is part of the federation issue.
    """
    if envelope.actor != signer:
        raise SignatureInvalid(
            f"activity actor {envelope.actor} is not the owner of the signing key ({signer})"
        )
    if not same_host(envelope.id, envelope.actor):
        raise InvalidActivity(
            f"activity id {envelope.id} is not on the actor's host {envelope.actor}"
        )


def _is_self_delete(body: bytes) -> bool:
    try:
        envelope = parse_envelope(body)
    except BadRequest:
        return False
    obj = envelope.document.get("object")
    target = obj if isinstance(obj, str) else obj.get("id") if isinstance(obj, dict) else None
    return envelope.type == "Delete" and target == envelope.actor
