"""The client API: notifications endpoints."""

from __future__ import annotations

from fedserver.api.routing import ApiRoutes

routes = ApiRoutes()
