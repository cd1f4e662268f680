"""Reading response bodies under a cap, parsing JSON safely, and `Retry-After`."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from aiohttp import ClientResponse

from fedserver import jsoncodec
from fedserver.errors import FetchError

_CHUNK = 64 * 1024


async def read_capped(response: ClientResponse, cap: int) -> bytes:
    """The whole body, decompressed, or FetchError once it passes `cap` bytes.

    A declared Content-Length over the cap fails before reading; the stream is capped
    regardless, since the header may lie or be absent (chunked) and gzip expands
    (Synapse GHSA-2hwx-mjrm-v3g8, Mastodon `body_with_limit`).
    """
    declared = response.content_length
    if declared is not None and declared > cap:
        raise FetchError(
            f"response declares {declared:,} bytes (Content-Length), over the {cap:,}-byte limit"
        )
    body = bytearray()
    # aiohttp decompresses gzip/deflate in bounded steps, so chunks are post-inflate.
    async for chunk in response.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > cap:
            raise FetchError(f"response exceeded {cap:,} bytes")
    return bytes(body)


async def read_prefix(response: ClientResponse, limit: int) -> bytes:
    """At most `limit` bytes of the body, for logs; stops reading there."""
    content = response.content
    if content.at_eof():  # an empty body (most inboxes answer 202 with none)
        return b""
    first = await content.read(limit)
    if len(first) >= limit or content.at_eof():  # all of it in one read: the usual case
        return first
    prefix = bytearray(first)
    while first and len(prefix) < limit:
        first = await content.read(limit - len(prefix))
        prefix += first
    return bytes(prefix)


def parse_json_object(body: bytes, url: str) -> dict[str, Any]:
    """Strict UTF-8 JSON whose top level is an object, or FetchError saying why
    (`fedserver.jsoncodec.loads`: no BOM, NaN or Infinity; deep nesting refused)."""
    try:
        value = jsoncodec.loads(body)
    except jsoncodec.NotUtf8 as exc:
        raise FetchError(f"document from {url} is {exc}") from None
    except jsoncodec.TooDeep:
        raise FetchError(f"document from {url} is nested too deeply") from None
    except ValueError as exc:
        raise FetchError(f"document from {url} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        kind = type(value).__name__
        raise FetchError(f"document from {url} is a JSON {kind}, not an object")
    return value


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` header (RFC 9110 10.2.3), or None.

    Both forms: delta-seconds ("120") and HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT",
    measured from `now`, an aware datetime; a date in the past gives 0).

    >>> parse_retry_after("120", datetime(2015, 10, 21, tzinfo=UTC))
    120.0
    >>> parse_retry_after("soon", datetime(2015, 10, 21, tzinfo=UTC)) is None
    True
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        if len(value) > 12:  # over 30,000 years: a garbage header, not a plan
            return None
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
