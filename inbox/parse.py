"""Parsing what arrives at an inbox (pure). Everything in it is hostile until checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fedserver import jsoncodec
from fedserver.activitystreams import as_list, get_id
from fedserver.errors import InvalidActivity, InvalidJSON
from fedserver.urlparts import hostname
from fedserver.urlparts import is_http_url as _is_http_url

#: Deeper documents are refused before any processing: no real activity nests past a
#: dozen levels, and deep nesting is a cheap way to exhaust a parser (SECURITY.md R8).
MAX_DEPTH = 32
MAX_ID_LENGTH = 2048
_CONTAINERS = (dict, list)


@dataclass(frozen=True)
class Envelope:
    """The outer fields every activity must have, checked."""

    id: str
    type: str
    actor: str
    document: dict[str, Any]


def parse_json(body: bytes) -> dict[str, Any]:
    """A JSON object from raw bytes; InvalidJSON (400) for anything else.

    Strict UTF-8 (RFC 8259 8.1), as the guarded client reads fetched documents:
    `json.loads(bytes)` would also decode UTF-16/32 and a UTF-8 BOM, and such a body,
    accepted here, could not be stored as the UTF-8 text it is queued as. NaN and
    Infinity are not JSON either. `jsoncodec.loads` holds to all of that (with orjson or
    without), and refuses absurd nesting itself; MAX_DEPTH is checked after.
    """
    try:
        data = jsoncodec.loads(body)
    except ValueError as exc:
        raise InvalidJSON(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidJSON("body must be a JSON object")
    # Every object or array opens with a `{` or `[` byte (one inside a string only
    # counts extra), so a body with few of them cannot nest deeper than that: the walk
    # is needed only past it. A typical activity has a dozen.
    if body.count(b"{") + body.count(b"[") <= MAX_DEPTH:
        return data
    if nesting_depth(data, limit=MAX_DEPTH) > MAX_DEPTH:
        raise InvalidJSON(f"JSON is nested more than {MAX_DEPTH} levels deep")
    return data


def nesting_depth(value: Any, *, limit: int | None = None) -> int:
    """The depth of nested objects and arrays, computed level by level without
    recursion; only containers are visited (scalars cost nothing). With `limit`, stops
    as soon as the depth exceeds it (the result is then `limit + 1`).

    >>> nesting_depth({"a": [1, {"b": 2}], "c": "d"})
    3
    """
    level = [value] if isinstance(value, _CONTAINERS) else []
    depth = 0
    while level:
        depth += 1
        if limit is not None and depth > limit:
            return depth
        below: list[Any] = []
        keep = below.append
        for item in level:
            for child in item.values() if isinstance(item, dict) else item:
                if isinstance(child, _CONTAINERS):
                    keep(child)
        level = below
    return depth


def parse_envelope(body: bytes) -> Envelope:
    """Parse an activity's outer fields: `id`, `type` and `actor` must be present, and
    the id and actor absolute http(s) URLs."""
    document = parse_json(body)
    activity_id = document.get("id")
    if not isinstance(activity_id, str) or not is_http_url(activity_id):
        raise InvalidActivity("id: expected an http(s) URL")
    types = [t for t in as_list(document.get("type")) if isinstance(t, str)]
    if not types:
        raise InvalidActivity("type: expected a string")
    actor = get_id(document.get("actor"))
    if actor is None or not is_http_url(actor):
        raise InvalidActivity("actor: expected an http(s) URL or an object with one as id")
    return Envelope(id=activity_id, type=types[0], actor=actor, document=document)


def is_http_url(value: str) -> bool:
    return len(value) <= MAX_ID_LENGTH and _is_http_url(value)


def same_host(first: str, second: str) -> bool:
    return hostname(first) == hostname(second)
