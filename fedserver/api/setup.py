"""Adds the client API to the application: route tables and middlewares."""

from __future__ import annotations

from aiohttp import web

from fedserver.api import (
    accounts,
    instance,
    notifications,
    oauth,
    search,
    statuses,
    timelines,
)

ROUTE_TABLES = (
    oauth.routes,
    accounts.routes,
    statuses.routes,
    timelines.routes,
    notifications.routes,
    instance.routes,
    search.routes,
)


def add_api(app: web.Application) -> None:
    for table in ROUTE_TABLES:
        app.add_routes(table)
