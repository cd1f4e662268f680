"""Authenticating signed requests from other servers: signature → key → confirmed owner.

Used by the inboxes and, with authorized fetch on, by every GET of objects and
collections. Order matters (SECURITY.md R1, Fedify CVE-2025-54888): parse and check the
signature's coverage, digest and time window first (no fetch for a stale or malformed
request), refuse blocked domains before fetching anything, resolve the key, verify, and
only then say who signed. The caller binds that signer to the activity's actor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from fedserver.appkeys import (
    clock_key,
    config_key,
    domain_policy_key,
    http_client_key,
    key_resolver_key,
)
from fedserver.errors import Forbidden, SignatureInvalid
from fedserver.signatures import (
    check_time_window,
    parse_request_signature,
    verify_signed_request,
)


@dataclass(frozen=True)
class SignedBy:
    """Who signed a request, after the key's ownership was confirmed both ways."""

    actor_uri: str
    key_id: str
    #: The signer's actor document, fetched from its own id.
    actor: dict[str, Any]
    scheme: str


def is_signed(request: web.Request) -> bool:
    """Whether the request carries a signature at all (headers, never request state:
    `"signature" in request` on aiohttp looks at per-request storage, SECURITY.md 5)."""
    headers = request.headers
    return (
        "Signature" in headers
        or "Signature-Input" in headers
        or headers.get("Authorization", "").startswith("Signature ")
    )


async def authenticate(request: web.Request, body: bytes) -> SignedBy:
    """Verify the request's HTTP signature; raise SignatureInvalid (401), SignatureMalformed
    (400) or Forbidden (403, blocked domain). `body` is the raw body as received."""
    app = request.app
    config = app[config_key]
    signed = parse_request_signature(
        request.method,
        request.raw_path,
        request.headers.items(),
        body,
        host=config.domain,
        target_uri=config.base_url + request.raw_path,
    )
    now = app[clock_key]()
    check_time_window(signed, now=now)
    policy = app[domain_policy_key]
    if policy.is_url_blocked(signed.key_id):
        raise Forbidden(f"{urlsplit(signed.key_id).hostname} is blocked here")
    resolver = app[key_resolver_key]
    resolved, fresh = await resolver.resolve(signed.key_id)
    try:
        verify_signed_request(signed, resolved.public_key, now=now)
    except SignatureInvalid:
        if fresh:
            raise
        # The peer may have rotated its key: refetch once (rate-limited per host).
        refreshed = await resolver.refresh(signed.key_id)
        if refreshed is None:
            raise
        verify_signed_request(signed, refreshed.public_key, now=now)
        resolved = refreshed
    if policy.is_url_blocked(resolved.owner):
        raise Forbidden(f"{urlsplit(resolved.owner).hostname} is blocked here")
    if signed.scheme == "rfc9421":
        # An accepted RFC 9421 request tells us the host speaks it: answer in kind.
        app[http_client_key].mark_rfc9421_supported(urlsplit(resolved.owner).hostname or "")
    return SignedBy(
        actor_uri=resolved.owner,
        key_id=signed.key_id,
        actor=resolved.actor,
        scheme=signed.scheme,
    )


async def require_signed_fetch(request: web.Request) -> SignedBy | None:
    """With `[federation] authorized_fetch` on, a GET of an object or collection must be
    signed (401 otherwise; 403 for blocked domains) and the signer is returned. With it
    off nothing is checked and None is returned."""
    if not request.app[config_key].federation.authorized_fetch:
        return None
    if not is_signed(request):
        raise SignatureInvalid("request is not signed (this server requires authorized fetch)")
    return await authenticate(request, b"")


async def signer_if_signed(request: web.Request) -> SignedBy | None:
    """The verified signer of a GET that carries a signature, else None. A signature that
    is present but fails is a 401: a peer that signs wants to know it failed."""
    if not is_signed(request):
        return None
    return await authenticate(request, b"")
