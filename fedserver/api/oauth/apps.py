"""App registration: `POST /api/v1/apps` (with the redirect URI rules of SECURITY.md R11)
and `GET /api/v1/apps/verify_credentials`."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from fedserver.api.auth import authorization
from fedserver.api.oauth.common import _SCHEME_RE, MAX_URI_LENGTH, OOB, normalize_scopes
from fedserver.api.params import Params
from fedserver.api.routing import ApiRoutes
from fedserver.api.scopes import DEFAULT_SCOPES, unknown_scopes
from fedserver.appkeys import clock_key, ids_key, store_key
from fedserver.db.oauth import OAuthApp
from fedserver.errors import Unauthorized, UnprocessableEntity
from fedserver.responses import json_response

routes = ApiRoutes()

#: Redirect URI schemes that run code or carry content instead of naming a place.
FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "vbscript"})
MAX_REDIRECT_URIS = 10
MAX_APP_NAME_LENGTH = 60  # Mastodon's limit


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` cannot be registered as a redirect URI, or None when it can.

    >>> redirect_uri_problem("JavaScript:alert(1)")
    'the javascript: scheme is not allowed'
    """
    if uri == OOB:
        return None
    if len(uri) > MAX_URI_LENGTH:
        return f"is longer than {MAX_URI_LENGTH} characters"
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in uri):
        return "contains spaces or control characters"
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if not scheme or not _SCHEME_RE.match(scheme):
        return "must be an absolute URI"
    if scheme in FORBIDDEN_SCHEMES:
        return f"the {scheme}: scheme is not allowed"
    if "#" in uri:
        return "must not contain a fragment"
    if scheme in ("http", "https") and not parts.hostname:
        return "must name a host"
    if not uri[len(scheme) + 1 :]:
        return "must be an absolute URI"
    return None


def app_entity(app: OAuthApp, *, client_secret: str | None = None) -> dict[str, Any]:
    """Mastodon's Application entity; the secret only right after registration."""
    entity: dict[str, Any] = {
        "id": str(app.id),
        "name": app.name,
        "website": app.website,
        "scopes": app.scopes.split(),
        "redirect_uri": "\n".join(app.redirect_uris),
        "redirect_uris": list(app.redirect_uris),
        "client_id": app.client_id,
        "vapid_key": "",
    }
    if client_secret is not None:
        entity["client_secret"] = client_secret
        entity["client_secret_expires_at"] = 0
    return entity


@routes.post("/api/v1/apps")
async def register_application(request: web.Request) -> web.Response:
    params = await Params.read(request)
    name = (params.string("client_name", max_length=1000) or "").strip()
    if not name:
        raise UnprocessableEntity("Validation failed: client_name can't be blank")
    if len(name) > MAX_APP_NAME_LENGTH:
        raise UnprocessableEntity(
            f"Validation failed: client_name is longer than {MAX_APP_NAME_LENGTH} characters"
        )
    website = (params.string("website", max_length=MAX_URI_LENGTH) or "").strip() or None
    if website is not None:
        parts = urlsplit(website)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise UnprocessableEntity("Validation failed: website must be an http(s) URL")
    redirect_uris: list[str] = []
    for value in params.strings("redirect_uris", max_items=MAX_REDIRECT_URIS):
        redirect_uris.extend(value.split())
    redirect_uris = list(dict.fromkeys(redirect_uris))
    if not redirect_uris:
        raise UnprocessableEntity("Validation failed: redirect_uris can't be blank")
    if len(redirect_uris) > MAX_REDIRECT_URIS:
        raise UnprocessableEntity(
            f"Validation failed: at most {MAX_REDIRECT_URIS} redirect URIs may be registered"
        )
    for uri in redirect_uris:
        problem = redirect_uri_problem(uri)
        if problem is not None:
            raise UnprocessableEntity(f"Validation failed: redirect URI {uri!r} {problem}")
    scopes = normalize_scopes(" ".join(params.strings("scopes"))) or DEFAULT_SCOPES
    unknown = unknown_scopes(scopes.split())
    if unknown:
        raise UnprocessableEntity(f"Validation failed: unknown scopes: {', '.join(unknown)}")
    client_secret = secrets.token_urlsafe(32)
    app = await request.app[store_key].oauth.create_app(
        app_id=request.app[ids_key](),
        name=name,
        website=website,
        redirect_uris=redirect_uris,
        scopes=scopes,
        client_id=secrets.token_urlsafe(32),
        client_secret=client_secret,
        now=request.app[clock_key](),
    )
    return json_response(app_entity(app, client_secret=client_secret))


@routes.get("/api/v1/apps/verify_credentials")
async def verify_app_credentials(request: web.Request) -> web.Response:
    found = await authorization(request)
    if found is None:
        raise Unauthorized("The access token is invalid")
    app = await request.app[store_key].oauth.app_by_id(found.token.app_id)
    if app is None:
        raise Unauthorized("The access token is invalid")
    return json_response(app_entity(app))
