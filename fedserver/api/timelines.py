"""The client API: timelines endpoints."""

from __future__ import annotations

from fedserver.api.routing import ApiRoutes

routes = ApiRoutes()
