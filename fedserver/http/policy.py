"""The settings of the guarded client and the shape of a request signer. Pure."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from fedserver import __version__

MIB = 1024 * 1024

#: What every document fetch asks for (SECURITY.md R4; PEERS.md "the profile that
#: passes everywhere").
ACTIVITY_ACCEPT = (
    "application/activity+json, "
    'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
)
#: Content types a fetched ActivityStreams document may carry (parameters ignored).
ACTIVITY_CONTENT_TYPES = frozenset({"application/activity+json", "application/ld+json"})
#: What WebFinger and NodeInfo fetches ask for, and the types they accept.
JRD_ACCEPT = "application/jrd+json, application/json"
JRD_CONTENT_TYPES = frozenset({"application/jrd+json", "application/json"})
#: The Content-Type of every delivery (snac 401s and GoToSocial 406s on others).
ACTIVITY_CONTENT_TYPE = "application/activity+json"

SignatureScheme = Literal["cavage", "rfc9421"]


class Signer(Protocol):
    """Signs one outgoing request: returns the headers to add (Signature, Date, ...).

    `headers` are those about to be sent, including `Host`; `scheme` is
    "cavage" (draft-cavage-http-signatures-12) or "rfc9421" (RFC 9421). Called once
    per hop, so a redirected request is signed for the URL it is sent to. Must not do
    I/O.
    """

    def __call__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        scheme: SignatureScheme,
        /,
    ) -> dict[str, str]: ...


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """What outbound requests may do. Built by the app from config; tests loosen it."""

    #: Allow plain http:// URLs (https only when off).
    allow_http: bool = False
    #: Allow every address, loopback and private ones included (tests, local dev).
    allow_private_addresses: bool = False
    #: Non-public networks allowed anyway, like Mastodon's ALLOWED_PRIVATE_ADDRESSES
    #: (an internal media proxy, say). Empty by default.
    allowed_private_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    #: Total deadline per call, redirects, retries and body included.
    timeout_seconds: float = 10.0
    #: Cap on an ActivityStreams, WebFinger or NodeInfo document, after decompression.
    max_document_bytes: int = MIB
    #: Cap on any other body (media), after decompression.
    max_response_bytes: int = 16 * MIB
    #: Redirects followed per request; each hop is checked and signed again.
    max_redirects: int = 2
    #: User-Agent header; the app adds its base URL, as in `fedserver/0.1.0 (+https://x/)`.
    user_agent: str = f"fedserver/{__version__}"
    #: Connection pool: total and per remote host (keep-alive reuse). Idle connections
    #: do not count; deliveries to dead hosts that never answer do, until their deadline.
    max_connections: int = 256
    max_connections_per_host: int = 8
    #: Seconds an idle connection is kept for the next request to its host (Mastodon's
    #: request pool keeps them 30 s; aiohttp's default is 15 s, shorter than the gap
    #: between two posts of a busy fan-out, so each post would open every connection
    #: anew).
    keepalive_seconds: float = 30.0

    def __post_init__(self) -> None:
        problems = []
        if not self.timeout_seconds > 0:
            problems.append("timeout_seconds must be positive")
        if self.max_document_bytes <= 0 or self.max_response_bytes <= 0:
            problems.append("byte caps must be positive")
        if self.max_redirects < 0:
            problems.append("max_redirects must be 0 or more")
        if self.max_connections <= 0 or self.max_connections_per_host <= 0:
            problems.append("connection limits must be positive")
        if not self.keepalive_seconds > 0:
            problems.append("keepalive_seconds must be positive")
        if problems:
            raise ValueError("invalid FetchPolicy: " + "; ".join(problems))
