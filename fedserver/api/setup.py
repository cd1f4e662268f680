"""Adds the client API to the application: route tables and middlewares."""

from __future__ import annotations

from aiohttp import web

from fedserver.api import (
    accounts,
    instance,
    notifications,
    oauth,
    ratelimit,
    registration,
    search,
    statuses,
    timelines,
)

ROUTE_TABLES = (
    oauth.routes,
    registration.routes,
    accounts.routes,
    statuses.routes,
    timelines.routes,
    notifications.routes,
    instance.routes,
    search.routes,
)


def add_api(app: web.Application) -> None:
    # The limiters' state; `rate_limit_middleware` (in create_app's list, outside the
    # error middleware so error responses carry the headers too) reads it.
    ratelimit.install(app)
    for table in ROUTE_TABLES:
        app.add_routes(table)
