"""CORS for the client API, OAuth token endpoints and discovery: browser clients (Elk,
Phanpy, Mastodon's own web app) call them from other origins. Credentials are bearer
tokens, never cookies, so a wildcard origin leaks nothing."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

CORS_PREFIXES = ("/api/", "/oauth/token", "/oauth/revoke", "/.well-known/", "/nodeinfo/")
ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, Accept"
EXPOSE_HEADERS = "Link, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(CORS_PREFIXES):
        return await handler(request)
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        response: web.StreamResponse = web.Response(status=204)
    else:
        response = await handler(request)
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
    response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    response.headers["Access-Control-Max-Age"] = "86400"
    return response
