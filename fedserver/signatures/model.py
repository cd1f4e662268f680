"""What both HTTP signature schemes share: the parsed result and the request view.

Pure. `SignedRequest` is what `parse_request_signature` hands back to the caller,
who resolves `key_id` to a key (I/O, not here) and then calls
`verify_signed_request`. `RequestView` is the request as the parsers see it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from fedserver.errors import SignatureInvalid

__all__ = ["RequestView", "Scheme", "SignedRequest", "collect_fields", "split_url"]

Scheme = Literal["draft-cavage-12", "rfc9421"]

#: Headers a request may carry once at most (SECURITY.md section 5): with two
#: `Date`s or two `Digest`s, a verifier and the code after it could read different
#: ones. `Host` is listed although its value is never used (we sign our own host).
SINGLE_HEADERS = (
    "signature",
    "signature-input",
    "date",
    "host",
    "digest",
    "content-digest",
    "authorization",
)

#: Methods whose request carries content that the signature must bind.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A request signature, parsed and checked for coverage, not yet verified.

    `messages` holds the exact bytes the signature must be valid for, in the order
    to try them (a second one only for the draft-cavage query-string quirk).
    Times are timezone-aware UTC; `created`/`expires` are only set when signed.
    """

    scheme: Scheme
    key_id: str
    #: As declared: "rsa-sha256", "hs2019", "ed25519", ...; None if not given.
    algorithm: str | None
    #: Covered header names / component identifiers, in signed order.
    covered: tuple[str, ...]
    created: datetime | None
    expires: datetime | None
    #: The signed `Date` header, if `date` is covered.
    date: datetime | None
    signature: bytes
    messages: tuple[bytes, ...]
    #: The RFC 9421 label of the chosen signature (e.g. "sig1"); None for cavage.
    label: str | None = None


@dataclass(frozen=True, slots=True)
class RequestView:
    """The parts of an incoming request the signature schemes read."""

    method: str
    path_with_query: str
    #: Lowercased header name -> every value, in order, OWS trimmed.
    fields: dict[str, list[str]]
    body: bytes
    #: Our configured host ("example.com", "localhost:8080"), lowercased.
    host: str
    target_uri: str

    @property
    def path(self) -> str:
        # partition, not urlsplit: a target like "//x/y" is a path, not a netloc.
        return self.path_with_query.partition("?")[0] or "/"

    @property
    def query(self) -> str:
        return self.path_with_query.partition("?")[2]

    @property
    def has_content(self) -> bool:
        return self.method.upper() in BODY_METHODS or bool(self.body)

    def field(self, name: str) -> str | None:
        """The combined value of a header (RFC 9110 5.3: lines joined by ", ")."""
        values = self.fields.get(name)
        return None if values is None else ", ".join(values)


def collect_fields(headers: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Group raw `(name, value)` pairs by lowercased name; reject duplicates.

    Raises SignatureInvalid for a second `Signature`, `Signature-Input`, `Date`,
    `Host`, `Digest`, `Content-Digest` or `Authorization` line.
    """
    fields: dict[str, list[str]] = {}
    repeated = False
    for name, value in headers:
        key = name.lower()
        values = fields.get(key)
        if values is None:
            fields[key] = [value.strip(" \t")]
        else:
            values.append(value.strip(" \t"))
            repeated = True
    if repeated:  # the common case, no header twice, skips the per-name check
        for name in SINGLE_HEADERS:
            count = len(fields.get(name, ()))
            if count > 1:
                raise SignatureInvalid(
                    f"request has {count} '{name}' headers (at most one allowed)"
                )
    return fields


def split_url(url: str) -> tuple[str, str, str]:
    """`(scheme, host, path_with_query)` of an absolute URL, as a peer will see them.

    The host is lowercased and loses a default port (aiohttp sends `Host:
    example.com`, not `example.com:443`), so what we sign is what the receiver,
    which signs its own configured host, compares against. The fragment is dropped.

    >>> split_url("https://Example.com:443/users/alice/inbox?page=1#x")
    ('https', 'example.com', '/users/alice/inbox?page=1')
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{parts.port}"
    path = parts.path or "/"
    return scheme, host, f"{path}?{parts.query}" if parts.query else path
