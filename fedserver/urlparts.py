"""The scheme, netloc and hostname of a URL, as `urllib.parse.urlsplit` gives them (pure).

`urlsplit` costs several microseconds a call (its small LRU cache misses on the many
distinct ids an inbox sees) and `.hostname` as much again; an inbound activity asks for
them a dozen times. The common shape, `http://` or `https://` then a plain ASCII
authority, is read here directly; anything else (upper-case schemes, brackets, control
characters, non-ASCII hosts, ...) goes to `urlsplit` itself, so every answer, errors
included, is the one `urlsplit` would give (tests/fedserver/test_urlparts.py checks them
against each other on many inputs).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

#: Printable ASCII but the space, the brackets of IPv6 literals and the delimiters.
_NETLOC_CHAR = "".join(re.escape(chr(c)) for c in range(0x21, 0x7F) if chr(c) not in "#/?[]")
_COMMON = re.compile(rf"(https?)://([{_NETLOC_CHAR}]*)(?=[/?#]|\Z)")


def _authority(url: str) -> tuple[str, str] | None:
    """(scheme, netloc) when `url` has the common shape, else None (ask `urlsplit`).

    Why this equals `urlsplit`: the URL starts with a lower-case `http://` or `https://`,
    so nothing is stripped before it and the scheme is read as written; the netloc runs
    up to the first `/`, `?` or `#` (or the end), as `urlsplit` cuts it. `urlsplit` first
    removes tabs and newlines anywhere, which could join parts of an authority: this one
    is printable ASCII, so has none (and removing them after it moves nothing before it).
    Without `[` or `]` there is no IPv6 literal to check, and an ASCII netloc skips
    `urlsplit`'s NFKC check. Spaces are left to `urlsplit` too.
    """
    found = _COMMON.match(url)
    return None if found is None else (found[1], found[2])


def scheme_and_netloc(url: str) -> tuple[str, str]:
    """`urlsplit(url).scheme, urlsplit(url).netloc` (ValueError as `urlsplit` raises it)."""
    found = _authority(url)
    if found is not None:
        return found
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def netloc(url: str) -> str:
    """`urlsplit(url).netloc`."""
    return scheme_and_netloc(url)[1]


def hostname(url: str) -> str | None:
    """`urlsplit(url).hostname`: the host, lower-cased (an IPv6 zone keeps its case)."""
    found = _authority(url)
    if found is None:
        return urlsplit(url).hostname
    # SplitResult._hostinfo and .hostname for a netloc without brackets.
    host = found[1].rpartition("@")[2].partition(":")[0]
    if not host:
        return None
    name, percent, zone = host.partition("%")
    return name.lower() + percent + zone


def is_http_url(url: str) -> bool:
    """An absolute http(s) URL with a host: `urlsplit`'s scheme is http or https and its
    hostname is not empty."""
    found = _authority(url)
    if found is None:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    return bool(found[1].rpartition("@")[2].partition(":")[0])
