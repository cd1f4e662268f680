"""Id-cursor paging: `max_id`, `since_id`, `min_id`, `limit`, and RFC 8288 `Link` headers
carrying them (Mastodon.py reads them for fetch_next / fetch_previous)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from yarl import URL

from fedserver.api.params import Params
from fedserver.appkeys import config_key
from fedserver.db import Window
from fedserver.errors import UnprocessableEntity
from fedserver.responses import json_response


@dataclass(frozen=True)
class Page:
    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None
    limit: int = 20

    def window(self) -> Window:
        """The same cursors as the data layer's query window."""
        return Window(self.max_id, self.since_id, self.min_id, self.limit)


def read_page(params: Params, *, default: int = 20, maximum: int = 40) -> Page:
    def cursor(name: str) -> int | None:
        value = params.string(name)
        if value is None or value == "":
            return None
        if not value.isdigit() or len(value) > 19:
            raise UnprocessableEntity(f"{name} must be an id")
        return int(value)

    limit = params.integer("limit", default) or default
    return Page(
        max_id=cursor("max_id"),
        since_id=cursor("since_id"),
        min_id=cursor("min_id"),
        limit=max(1, min(limit, maximum)),
    )


def link_header(request: web.Request, first_id: int | None, last_id: int | None) -> str | None:
    """`next` (older: max_id = the last id) and `prev` (newer: min_id = the first id)."""
    if first_id is None or last_id is None:
        return None
    # Our configured base URL, not the Host header: behind a proxy they differ.
    base = URL(request.app[config_key].base_url + request.path).with_query(
        {k: v for k, v in request.query.items() if k not in ("max_id", "min_id", "since_id")}
    )
    next_url = base.update_query(max_id=str(last_id))
    prev_url = base.update_query(min_id=str(first_id))
    return f'<{next_url}>; rel="next", <{prev_url}>; rel="prev"'


def paged_response(
    request: web.Request, items: list[dict[str, object]], ids: list[int]
) -> web.Response:
    response = json_response(items)
    link = link_header(request, ids[0] if ids else None, ids[-1] if ids else None)
    if link:
        response.headers["Link"] = link
    return response
