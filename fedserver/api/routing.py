"""Route tables for the client API: every route also answers with a trailing slash,
because clients send both (CLIENTS.md: Mastodon.py's `/api/v1/instance/`, toot's
`/oauth/authorize/`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler


class ApiRoutes(web.RouteTableDef):
    def route(self, method: str, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        register = super().route(method, path, **kwargs)
        alternate = path[:-1] if path.endswith("/") else path + "/"
        register_alternate = super().route(
            method, alternate, **{k: v for k, v in kwargs.items() if k != "name"}
        )

        def both(handler: Handler) -> Handler:
            register_alternate(handler)
            return register(handler)

        return both
