"""Response helpers shared by the feature packages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from fedserver import jsoncodec
from fedserver.activitystreams import ACTIVITY_JSON
from fedserver.errors import BadRequest


def json_response(
    data: Any,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json",
) -> web.Response:
    """`web.json_response` encoded by `fedserver.jsoncodec` (orjson when installed)."""
    return web.Response(
        body=jsoncodec.dumps_bytes(data),
        status=status,
        headers=headers,
        content_type=content_type,
        charset="utf-8",
    )


def activity_response(document: dict[str, Any], *, status: int = 200) -> web.Response:
    """An ActivityStreams document, as `application/activity+json` (PEERS.md)."""
    return activity_body_response(encode_activity(document), status=status)


def encode_activity(document: dict[str, Any]) -> bytes:
    """The body `activity_response` sends (for callers that keep it)."""
    return jsoncodec.dumps_bytes(document)


def activity_body_response(body: bytes, *, status: int = 200) -> web.Response:
    """An already encoded ActivityStreams document (`encode_activity`)."""
    response = web.Response(body=body, status=status, content_type=ACTIVITY_JSON, charset="utf-8")
    response.headers["Vary"] = "Accept"
    return response


def query_cursor(request: web.Request, name: str = "max_id") -> int | None:
    """An optional id cursor from the query string; 400 when it is not an integer."""
    value = request.query.get(name)
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 19:
        raise BadRequest(f"{name} must be a numeric id")
    return int(value)
