"""The one error middleware, and the trusted-proxy middleware.

Every error leaves as JSON (`fedserver.errors` documents the shape): our own FedErrors,
aiohttp's router 404/405 and its 413 for bodies over `client_max_size`, and anything
unexpected as a logged 500 with no traceback in the response.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from fedserver.appkeys import config_key
from fedserver.errors import FedError, NotFound, PayloadTooLarge, error_body
from fedserver.responses import json_response

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_ERROR_CODES = {
    404: NotFound.code,
    405: "method_not_allowed",
    413: PayloadTooLarge.code,
}


def error_response(status: int, detail: str, code: str) -> web.Response:
    response = json_response(error_body(detail, code), status=status)
    # An error must never be cached by a proxy as if it were the resource.
    response.headers["Cache-Control"] = "no-store"
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except FedError as exc:
        return error_response(exc.status, exc.detail, exc.code)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and other non-errors go out as they are
        # Stable codes for the statuses aiohttp raises itself: reason phrases follow the
        # Python version (3.13 renamed 413 "Request Entity Too Large" to "Content Too Large").
        code = _HTTP_ERROR_CODES.get(exc.status) or (exc.reason or "error").lower().replace(
            " ", "_"
        )
        max_body = request.app[config_key].limits.max_body_bytes
        detail = {
            404: "not found",
            405: f"method {request.method} not allowed",
            413: f"request body is larger than {max_body:,} bytes",
        }.get(exc.status, exc.reason or "error")
        response = error_response(exc.status, detail, code)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal server error", "internal_error")


def trusted_proxy_middleware(networks: tuple[str, ...]) -> Middleware:
    """Believe X-Forwarded-For and X-Forwarded-Proto only from the configured proxies.

    Without this a client could claim any address (and escape per-IP rate limits).
    """
    trusted = [ipaddress.ip_network(n, strict=False) for n in networks]

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        peer = request.remote
        if trusted and peer and _in(peer, trusted):
            changes: dict[str, str] = {}
            forwarded_for = request.headers.get("X-Forwarded-For", "")
            # The right-most address not itself a trusted proxy is the client.
            for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
                if not _in(hop, trusted):
                    changes["remote"] = hop
                    break
            proto = request.headers.get("X-Forwarded-Proto", "").strip().lower()
            if proto in ("http", "https"):
                changes["scheme"] = proto
            if changes:
                request = request.clone(**changes)  # type: ignore[arg-type]
        return await handler(request)

    return middleware


def _in(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
