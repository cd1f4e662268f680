"""Verifying a signed request in two steps, so the caller can fetch the key between.

Pure. The inbox (or any route that needs a signature) does::

    signed = parse_request_signature(request.method, request.raw_path,
                                     request.headers.items(), body,
                                     host=config.host, target_uri=our_url)
    check_time_window(signed, now=now)          # optional: refuse replays before I/O
    key = await resolver.resolve(signed.key_id)  # I/O lives in inbox/verify.py
    verify_signed_request(signed, key, now=now)

`parse_request_signature` already refuses everything it can without the key:
malformed or duplicate headers, unsupported algorithms, missing coverage, and a
`Digest` / `Content-Digest` that does not match the raw body. So a request that
fails for any of those reasons costs no key fetch.

Pass aiohttp's `request.raw_path` (the request target exactly as sent, query
included), not `path_qs`, which yarl re-encodes and may not match what was signed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from fedserver.errors import SignatureInvalid
from fedserver.signatures import cavage, rfc9421
from fedserver.signatures.algorithms import verify_bytes
from fedserver.signatures.digests import check_content_digest, check_digest
from fedserver.signatures.keys import MIN_RSA_BITS, PublicKey, check_public_key
from fedserver.signatures.model import RequestView, SignedRequest, collect_fields
from fedserver.signatures.timing import check_time_window

__all__ = ["parse_request_signature", "verify_request", "verify_signed_request"]


def _cavage_header(fields: dict[str, list[str]]) -> str | None:
    """The draft-cavage signature: `Signature` or `Authorization: Signature ...`."""
    signature = fields.get("signature")
    authorization = [
        value for value in fields.get("authorization", []) if value[:10].lower() == "signature "
    ]
    if signature and authorization:
        raise SignatureInvalid("request has both a Signature header and an Authorization signature")
    if signature:
        return signature[0]
    return authorization[0] if authorization else None


def parse_request_signature(
    method: str,
    path_with_query: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    host: str,
    target_uri: str,
) -> SignedRequest:
    """Parse and check a request's signature, everything short of the key.

    `headers` are the raw `(name, value)` pairs, duplicates included (aiohttp's
    `request.headers.items()`); `body` the raw bytes received; `host` our
    configured host, which is what gets signed as `host` / `@authority`; and
    `target_uri` our full URL of the request, for RFC 9421 `@target-uri`.

    RFC 9421 applies when `Signature-Input` is present, else draft-cavage.
    Raises SignatureInvalid (401) for an unsigned request ("request is not signed"),
    a duplicate header, an unsupported algorithm, missing coverage or a digest that
    does not match the body; SignatureMalformed (400) for an unparseable signature
    header; BadRequest (400) for an unparseable `Digest` / `Content-Digest`.
    """
    fields = collect_fields(headers)
    request = RequestView(
        method=method,
        path_with_query=path_with_query,
        fields=fields,
        body=body,
        host=host.lower(),
        target_uri=target_uri,
    )
    if "signature-input" in fields:
        signed = rfc9421.parse_rfc9421(request)
    else:
        header = _cavage_header(fields)
        if header is None:
            raise SignatureInvalid("request is not signed")
        signed = cavage.parse_cavage(request, header)
    # Every digest present is checked, signed or not: a mismatch is never harmless.
    if (digest := request.field("digest")) is not None:
        check_digest(digest, body)
    if (content_digest := request.field("content-digest")) is not None:
        check_content_digest(content_digest, body)
    return signed


def verify_signed_request(
    signed: SignedRequest,
    public_key: PublicKey,
    *,
    now: datetime,
    min_rsa_bits: int = MIN_RSA_BITS,
) -> None:
    """Verify a parsed signature with the key its `key_id` resolved to.

    Raises SignatureInvalid when the time window is missed ("date is 3,960 s old
    (max 3,900 s)"), the key is refused (RSA under `min_rsa_bits`), the algorithm
    does not fit the key, or the signature does not verify. Returns None otherwise.
    """
    check_time_window(signed, now=now)
    key = check_public_key(public_key, min_rsa_bits=min_rsa_bits)
    if signed.scheme == "rfc9421":
        algorithms = rfc9421.algorithms_for(signed.algorithm, key)
    else:
        algorithms = cavage.algorithms_for(signed.algorithm, key)
    for algorithm in algorithms:
        for message in signed.messages:
            if verify_bytes(algorithm, key, signed.signature, message):
                return
    raise SignatureInvalid(
        f"signature does not verify with key {signed.key_id!r} ({' or '.join(algorithms)})"
    )


def verify_request(
    method: str,
    path_with_query: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    host: str,
    target_uri: str,
    public_key: PublicKey,
    now: datetime,
    min_rsa_bits: int = MIN_RSA_BITS,
) -> SignedRequest:
    """Both steps with a key already known; returns the verified signature.

    Raises what `parse_request_signature` and `verify_signed_request` raise. The
    caller must still check that `key_id` belongs to `public_key`'s owner.
    """
    signed = parse_request_signature(
        method, path_with_query, headers, body, host=host, target_uri=target_uri
    )
    verify_signed_request(signed, public_key, now=now, min_rsa_bits=min_rsa_bits)
    return signed
