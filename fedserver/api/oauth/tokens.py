"""`POST /oauth/token` (the grants), `POST /oauth/revoke`, client authentication, and the
RFC 8414 metadata at `/.well-known/oauth-authorization-server`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from fedserver.api.oauth.common import MAX_URI_LENGTH, _check_role, _requested_scopes
from fedserver.api.oauth.errors import OAuthError, _invalid_client, _invalid_grant, _no_store
from fedserver.api.oauth.signin import _find_user, _password_ok, _sign_in_key
from fedserver.api.params import Params
from fedserver.api.ratelimit import count_sign_in, too_many_requests
from fedserver.api.routing import ApiRoutes
from fedserver.api.scopes import KNOWN_SCOPES
from fedserver.appkeys import clock_key, config_key, ids_key, store_key
from fedserver.config import Config
from fedserver.db.oauth import OAuthApp, secret_hash
from fedserver.errors import FedError
from fedserver.responses import json_response

routes = ApiRoutes()

_VERIFIER_RE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _client_secret_matches(app: OAuthApp, secret: str) -> bool:
    return hmac.compare_digest(app.client_secret_hash, secret_hash(secret))


def _client_credentials(request: web.Request, params: Params) -> tuple[str | None, str | None]:
    """client_id and client_secret from HTTP Basic (RFC 6749 2.3.1) or the body."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except ValueError:
            raise _invalid_client() from None
        client_id, separator, client_secret = decoded.partition(":")
        if not separator:
            raise _invalid_client()
        return unquote(client_id), unquote(client_secret)
    return (
        params.string("client_id", max_length=200),
        params.string("client_secret", max_length=200),
    )


async def _client(
    request: web.Request, params: Params, *, secret_required: bool
) -> tuple[OAuthApp, bool]:
    """The calling app, and whether it proved its secret."""
    client_id, client_secret = _client_credentials(request, params)
    if not client_id:
        raise _invalid_client()
    app = await request.app[store_key].oauth.app_by_client_id(client_id)
    if app is None:
        raise _invalid_client()
    if client_secret:
        if not _client_secret_matches(app, client_secret):
            raise _invalid_client()
        return app, True
    if secret_required:
        raise _invalid_client()
    return app, False


async def _issue(
    request: web.Request,
    app: OAuthApp,
    user_id: int | None,
    scopes: str,
    *,
    code: str | None = None,
) -> web.Response:
    now = request.app[clock_key]()
    token = secrets.token_urlsafe(32)
    await request.app[store_key].oauth.create_token(
        token_id=request.app[ids_key](),
        token=token,
        app_id=app.id,
        user_id=user_id,
        scopes=scopes,
        now=now,
        code=code,
    )
    return _no_store(json_response(token_entity(token, scopes, now)))


def token_entity(token: str, scopes: str, now: datetime) -> dict[str, Any]:
    """Mastodon's Token entity; `scope` echoes every scope granted (Mastodon.py checks)."""
    return {
        "access_token": token,
        "token_type": "Bearer",
        "scope": scopes,
        "created_at": int(now.timestamp()),
    }


async def _authorization_code(request: web.Request, params: Params) -> web.Response:
    app, authenticated = await _client(request, params, secret_required=False)
    code = params.string("code", max_length=200)
    if not code:
        raise OAuthError("invalid_request", "code is missing")
    verifier = params.string("code_verifier", max_length=200)
    if not authenticated and not verifier:
        # A public client must prove possession with PKCE instead of a secret.
        raise _invalid_client()
    now = request.app[clock_key]()
    store = request.app[store_key]
    found = await store.oauth.consume_code(code, now)
    if found is None or found.app_id != app.id:
        raise _invalid_grant()
    if found.used_at is not None:
        # A replayed code has leaked: what it already bought is revoked too
        # (RFC 6749 §10.5).
        await store.oauth.revoke_tokens_of_code(code, now)
        raise _invalid_grant("The authorization code was already used")
    if found.expires_at <= now:
        raise _invalid_grant("The authorization code has expired")
    if params.string("redirect_uri", max_length=MAX_URI_LENGTH) != found.redirect_uri:
        raise _invalid_grant("redirect_uri does not match the authorization request")
    if found.code_challenge is not None:
        if not verifier or not _VERIFIER_RE.match(verifier):
            raise _invalid_grant("code_verifier is missing or malformed")
        if not hmac.compare_digest(s256(verifier), found.code_challenge):
            raise _invalid_grant("code_verifier does not match the code_challenge")
    elif verifier:
        raise _invalid_grant("code_verifier given, but the authorization had no code_challenge")
    user = await store.accounts.local_user_by_id(found.user_id)
    if user is None or user.account.is_deleted or not user.user.approved:
        raise _invalid_grant()
    return await _issue(request, app, user.user.id, found.scopes, code=code)


async def _client_credentials_grant(request: web.Request, params: Params) -> web.Response:
    app, _ = await _client(request, params, secret_required=True)
    return await _issue(request, app, None, _requested_scopes(params, app))


async def _password_grant(request: web.Request, params: Params) -> web.Response:
    config = request.app[config_key]
    if not config.api.password_grant:
        raise OAuthError(
            "unsupported_grant_type", "The password grant is not enabled on this server"
        )
    app, _ = await _client(request, params, secret_required=True)
    identifier = (params.string("username", max_length=320) or "").strip()
    password = params.string("password", max_length=1024) or ""
    if not identifier or not password:
        raise OAuthError("invalid_request", "username and password are required")
    scopes = _requested_scopes(params, app)
    store = request.app[store_key]
    user = await _find_user(store, config, identifier)
    verdict = count_sign_in(request, _sign_in_key(user, identifier))
    if verdict is not None and not verdict.allowed:
        return too_many_requests(verdict, "Too many sign-in attempts")
    if not await _password_ok(user, password) or user is None:
        raise _invalid_grant()
    if not user.user.approved:
        raise _invalid_grant("Your login is currently pending approval")
    _check_role(scopes, user)
    return await _issue(request, app, user.user.id, scopes)


GRANTS = {
    "authorization_code": _authorization_code,
    "client_credentials": _client_credentials_grant,
    "password": _password_grant,
}


@routes.post("/oauth/token")
async def token(request: web.Request) -> web.Response:
    try:
        params = await Params.read(request)
        grant_type = params.string("grant_type", max_length=100)
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is missing")
        grant = GRANTS.get(grant_type)
        if grant is None:
            raise OAuthError(
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
            )
        return await grant(request, params)
    except OAuthError as exc:
        return exc.response()
    except FedError as exc:  # unreadable body or malformed parameters
        return OAuthError("invalid_request", exc.detail).response()


@routes.post("/oauth/revoke")
async def revoke(request: web.Request) -> web.Response:
    """RFC 7009: 200 whether or not the token existed. A client that omits its secret can
    revoke only its own tokens, which holding the token already allows."""
    try:
        params = await Params.read(request)
        app, _ = await _client(request, params, secret_required=False)
        value = params.string("token", max_length=200)
        if not value:
            raise OAuthError("invalid_request", "token is missing")
    except OAuthError as exc:
        return exc.response()
    except FedError as exc:
        return OAuthError("invalid_request", exc.detail).response()
    await request.app[store_key].oauth.revoke_token(value, app.id, request.app[clock_key]())
    return _no_store(json_response({}))


# -- discovery ----------------------------------------------------------------------


def grant_types(config: Config) -> list[str]:
    grants = ["authorization_code", "client_credentials"]
    if config.api.password_grant:
        grants.append("password")
    return grants


@routes.get("/.well-known/oauth-authorization-server")
async def authorization_server_metadata(request: web.Request) -> web.Response:
    """RFC 8414. URLs come from `base_url` (Mastodon.py wants https there)."""
    config = request.app[config_key]
    base = config.base_url
    return json_response(
        {
            "issuer": f"{base}/",
            "service_documentation": "https://docs.joinmastodon.org/",
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "app_registration_endpoint": f"{base}/api/v1/apps",
            "scopes_supported": sorted(KNOWN_SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": grant_types(config),
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
        }
    )
