"""The allow-list HTML sanitiser for everything that is shown as HTML (nh3, Rust's ammonia).

Remote HTML is hostile (SECURITY.md R10, Mastodon CVE-2023-36459): it is cleaned when
stored and cleaned again when rendered into a page. The allow-list is Mastodon's
(https://docs.joinmastodon.org/spec/activitypub/#sanitization): text structure, links
and the `class` names Mastodon uses for mentions, hashtags and invisible URL parts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import nh3

_TAGS = {
    "p", "br", "span", "a", "del", "s", "pre", "code", "em", "strong", "b", "i", "u",
    "ul", "ol", "li", "blockquote",
}  # fmt: skip
# `class` is governed by _CLASSES; ammonia refuses it in both places.
_ATTRIBUTES = {"a": {"href", "translate"}, "span": {"translate"}}
_CLASSES = {
    "a": {"mention", "hashtag", "u-url", "h-card", "status-link", "unhandled-link"},
    "span": {"h-card", "invisible", "ellipsis", "mention", "hashtag"},
}
_URL_SCHEMES = {"http", "https", "mailto", "xmpp", "matrix", "gemini", "dat", "ipfs"}


_OPTIONS: dict[str, Any] = {
    "tags": _TAGS,
    "attributes": _ATTRIBUTES,
    "allowed_classes": _CLASSES,
    "url_schemes": _URL_SCHEMES,
    "link_rel": "nofollow noopener noreferrer",
    "strip_comments": True,
}
# One ammonia builder made once: `nh3.clean` builds it again on every call from the
# Python sets, about half its cost on a typical post (an nh3 without `Cleaner` gets the old call).
_cleaner: Callable[[str], str] = (
    nh3.Cleaner(**_OPTIONS).clean
    if hasattr(nh3, "Cleaner")
    else functools.partial(nh3.clean, **_OPTIONS)
)


def sanitize_html(html: str) -> str:
    """Clean untrusted HTML down to Mastodon's allow-list; links get rel=nofollow etc.

    >>> sanitize_html('<p onclick="x()">hi<script>alert(1)</script></p>')
    '<p>hi</p>'
    """
    return _cleaner(html)
