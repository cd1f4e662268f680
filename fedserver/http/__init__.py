"""The one guarded HTTP client: every outbound request of the server goes through it.

Keys, actors, objects, collections, WebFinger, NodeInfo, media and deliveries are all
fetched or sent with `HttpClient`, over one shared `aiohttp.ClientSession` created in
`http_ctx`. Nothing else in the code base may open a ClientSession. The rules, and the
incidents (SECURITY.md 1.3, 1.4, R4, R7, R8) that motivate each one:

1. Only public addresses, checked after DNS at connect time by `GuardedResolver`,
   and IP literals (in every legacy spelling) and `localhost` refused before any
   connection. The full IANA special-purpose list, IPv6 and IPv4-mapped forms
   included. `FetchPolicy.allow_private_addresses` turns it off for tests.
   https://nvd.nist.gov/vuln/detail/CVE-2026-22245 (Mastodon, check after DNS),
   https://nvd.nist.gov/vuln/detail/CVE-2026-46348 (Mastodon, `::`),
   https://nvd.nist.gov/vuln/detail/CVE-2026-33693 (activitypub-federation-rust,
   0.0.0.0 and broadcast), https://nvd.nist.gov/vuln/detail/CVE-2025-25194 (Lemmy),
   https://nvd.nist.gov/vuln/detail/CVE-2026-50131 (Fedify, octal/hex literals),
   https://nvd.nist.gov/vuln/detail/CVE-2026-96624 (Fedify, delivery targets),
   https://nvd.nist.gov/vuln/detail/CVE-2021-39195 (Misskey, media).
2. https only unless `allow_http`; no credentials in URLs; no environment proxies.
3. Redirects followed by hand, at most `max_redirects`, each hop checked again and
   signed again; documents never leave the host they were requested from.
   https://nvd.nist.gov/vuln/detail/CVE-2026-77632 (Fedify, redirect to loopback).
4. One total deadline per call, redirects and body included, so a 1 byte/s server
   cannot hold a worker. https://nvd.nist.gov/vuln/detail/CVE-2023-36461 (Mastodon).
5. Bodies streamed under a byte cap counted after decompression; a declared
   Content-Length over the cap fails before reading.
   https://github.com/advisories/GHSA-2hwx-mjrm-v3g8 (Synapse), Mastodon issue #5482.
6. Documents: AS2 `Accept`, an `application/activity+json` or `application/ld+json`
   Content-Type, strict UTF-8 JSON whose top level is an object (deep nesting is a
   FetchError, not a RecursionError: https://nvd.nist.gov/vuln/detail/CVE-2026-96623),
   and `id` equal to the URL fetched.
   https://nvd.nist.gov/vuln/detail/CVE-2024-23832 (Mastodon),
   https://nvd.nist.gov/vuln/detail/CVE-2024-25636 (Misskey).
7. Per-host state (the RFC 9421 / draft-cavage choice) is bounded and expires.
   https://nvd.nist.gov/vuln/detail/CVE-2026-69132 (Fedify).

Errors (from `fedserver.errors`)::

    FetchError              anything that went wrong with the remote (timeout, size,
    │                       content type, JSON, id mismatch, connection)
    ├── FetchRefused        refused by policy; the refused hop made no connection
    └── FetchStatusError    a document was expected and the remote answered non-2xx;
                            `.response_status`, `.is_gone` (404/410)

`post_activity` never raises for an HTTP status: `DeliveryResult` carries it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web
from aiohttp.abc import AbstractResolver

from .addresses import address_problem, check_url, parse_ipv4_host
from .bodies import parse_retry_after
from .client import (
    DELIVERY_BODY_PREFIX_BYTES,
    DeliveryResult,
    FetchedBody,
    FetchStatusError,
    HttpClient,
)
from .knocking import SchemeMemory
from .policy import (
    ACTIVITY_ACCEPT,
    ACTIVITY_CONTENT_TYPE,
    ACTIVITY_CONTENT_TYPES,
    JRD_ACCEPT,
    JRD_CONTENT_TYPES,
    FetchPolicy,
    SignatureScheme,
    Signer,
)
from .resolver import GuardedResolver

__all__ = [
    "ACTIVITY_ACCEPT",
    "ACTIVITY_CONTENT_TYPE",
    "ACTIVITY_CONTENT_TYPES",
    "DELIVERY_BODY_PREFIX_BYTES",
    "JRD_ACCEPT",
    "JRD_CONTENT_TYPES",
    "DeliveryResult",
    "FetchPolicy",
    "FetchStatusError",
    "FetchedBody",
    "GuardedResolver",
    "HttpClient",
    "SchemeMemory",
    "SignatureScheme",
    "Signer",
    "address_problem",
    "check_url",
    "http_ctx",
    "parse_ipv4_host",
    "parse_retry_after",
]


def http_ctx(
    policy: FetchPolicy,
    key: web.AppKey[HttpClient],
    resolver: AbstractResolver | None = None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that opens the shared client, stores it under `key`, and
    closes it on shutdown. `resolver` (a test's fake) is wrapped by the guard."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        client = HttpClient(policy, resolver=resolver)
        app[key] = client
        try:
            yield
        finally:
            await client.close()

    return ctx
