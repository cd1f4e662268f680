"""Caps on everything that arrives from the network (SECURITY.md R8, Mastodon
CVE-2026-23962/23963): strings are cut, arrays are truncated, so one hostile document
cannot exhaust storage, CPU or the clients that display it."""

from __future__ import annotations

import re
from typing import Any

MAX_NAME_CHARS = 500
MAX_SUMMARY_CHARS = 10_000
MAX_CONTENT_CHARS = 100_000
MAX_URL_CHARS = 2_048
MAX_FIELDS = 16
MAX_ALIASES = 16
MAX_TAGS = 64
MAX_MENTIONS = 64
MAX_EMOJIS = 64
MAX_ATTACHMENTS = 16
MAX_POLL_OPTIONS = 32
MAX_RECIPIENTS = 2_000

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value: Any, limit: int) -> str:
    """A plain-text field: strings only, control characters removed, cut at `limit`."""
    if not isinstance(value, str):
        return ""
    return _CONTROL.sub("", value)[:limit]


def first(items: list[Any], limit: int) -> list[Any]:
    return items[:limit]
