"""`GET|POST /oauth/authorize`: the authorization-code flow on one server-rendered page
(sign-in and consent in one POST), its error pages, and the redirect back to the app."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from fedserver.api.oauth.common import (
    _SCHEME_RE,
    MAX_URI_LENGTH,
    OOB,
    _check_role,
    _requested_scopes,
)
from fedserver.api.oauth.errors import OAuthError, _no_store
from fedserver.api.oauth.form import AuthorizeRequest, _form_secret, form_token, form_token_valid
from fedserver.api.oauth.signin import _find_user, _password_ok, _sign_in_key
from fedserver.api.params import Params
from fedserver.api.ratelimit import count_sign_in, set_headers
from fedserver.api.routing import ApiRoutes
from fedserver.appkeys import clock_key, config_key, store_key
from fedserver.db.oauth import OAuthApp
from fedserver.errors import FedError
from fedserver.pages import CONTENT_SECURITY_POLICY, render_page

routes = ApiRoutes()

CODE_LIFETIME = timedelta(minutes=10)
MAX_STATE_LENGTH = 2000
_HOST_RE = re.compile(r"^[A-Za-z0-9.:\[\]-]+$")
#: An S256 challenge is the base64url SHA-256 of the verifier, without padding (RFC 7636).
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")

SCOPE_DESCRIPTIONS = {
    "read": "read all your account's data",
    "write": "change all your account's data: post, follow, edit your profile",
    "follow": "follow, block and mute accounts",
    "push": "receive your push notifications",
    "profile": "read your profile (name and picture) only",
    "admin:read": "read all data on the server (administrators)",
    "admin:write": "moderate all data on the server (administrators)",
}


def _form_action_source(uri: str) -> str | None:
    """A CSP source allowing the consent form's redirect to `uri` (browsers apply
    `form-action` to redirects after a form POST); None when none can be built safely."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if not _SCHEME_RE.match(scheme):
        return None
    if scheme in ("http", "https"):
        try:
            host, port = parts.hostname, parts.port
        except ValueError:
            return None
        if not host or not _HOST_RE.match(host):
            return None
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}" + (f":{port}" if port else "")
    return f"{scheme}:"


class _PageError(Exception):
    """A problem shown on an error page, never redirected (unknown app, wrong URI)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


async def _registered(request: web.Request, params: Params) -> tuple[OAuthApp, str]:
    """The app and its redirect URI; problems here are shown, never redirected."""
    client_id = params.string("client_id", max_length=200)
    app = None if not client_id else await request.app[store_key].oauth.app_by_client_id(client_id)
    if app is None:
        raise _PageError("This application is not known here (unknown client_id).")
    redirect_uri = params.string("redirect_uri", max_length=MAX_URI_LENGTH)
    if not redirect_uri and len(app.redirect_uris) == 1:
        redirect_uri = app.redirect_uris[0]
    # Exact string comparison: no prefix, port, path or trailing-slash leniency (R11).
    if not redirect_uri or redirect_uri not in app.redirect_uris:
        raise _PageError(
            "The redirect URI is not one this application registered, so no code is issued."
        )
    return app, redirect_uri


def _authorize_request(params: Params, app: OAuthApp, redirect_uri: str) -> AuthorizeRequest:
    """The rest of the checks; their failures go back to the app as OAuthErrors."""
    response_type = params.string("response_type", max_length=100)
    if response_type != "code":
        raise OAuthError("unsupported_response_type", "Only response_type=code is supported")
    scope = _requested_scopes(params, app)
    state = params.string("state", max_length=MAX_STATE_LENGTH)
    challenge = params.string("code_challenge", max_length=200) or None
    method = params.string("code_challenge_method", max_length=100) or None
    if challenge is not None:
        if method != "S256":
            raise OAuthError(
                "invalid_request", "code_challenge_method must be S256 (plain is not supported)"
            )
        if not _CHALLENGE_RE.match(challenge):
            raise OAuthError("invalid_request", "code_challenge is not an S256 challenge")
    else:
        method = None
    return AuthorizeRequest(
        client_id=app.client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        state=state,
        code_challenge=challenge,
        code_challenge_method=method,
    )


def _redirect(uri: str, values: dict[str, str | None]) -> web.Response:
    query = urlencode({k: v for k, v in values.items() if v is not None})
    separator = "&" if "?" in uri else "?"
    response = web.Response(status=302, headers={"Location": f"{uri}{separator}{query}"})
    return _no_store(response)


def _page(
    request: web.Request, template: str, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    response = render_page(request, template, context, status=status)
    return _no_store(response)


def _error_page(request: web.Request, message: str, status: int = 400) -> web.Response:
    return _page(request, "oauth_error.html", {"message": message}, status=status)


def _oauth_error_back(
    request: web.Request, req_redirect_uri: str, state: str | None, exc: OAuthError
) -> web.Response:
    """Send an error back to the app (RFC 6749 4.1.2.1), or show it for out-of-band apps."""
    if req_redirect_uri == OOB:
        return _error_page(request, f"{exc.description} ({exc.error})", exc.status)
    return _redirect(
        req_redirect_uri,
        {"error": exc.error, "error_description": exc.description, "state": state},
    )


def _consent_page(
    request: web.Request,
    app: OAuthApp,
    req: AuthorizeRequest,
    *,
    error: str | None = None,
    identifier: str = "",
    status: int = 200,
) -> web.Response:
    now = request.app[clock_key]()
    scopes = [
        {"name": scope, "description": SCOPE_DESCRIPTIONS.get(scope, _describe_scope(scope))}
        for scope in req.scope.split()
    ]
    response = _page(
        request,
        "authorize.html",
        {
            "app": {"name": app.name, "website": app.website},
            "scopes": scopes,
            "fields": req.hidden_fields(),
            "csrf_token": form_token(_form_secret(request), req, now),
            "error": error,
            "identifier": identifier,
            "out_of_band": req.redirect_uri == OOB,
        },
        status=status,
    )
    # Browsers apply form-action to the redirect that follows the POST: allow the app's.
    source = _form_action_source(req.redirect_uri) if req.redirect_uri != OOB else ""
    if source is None:
        policy = CONTENT_SECURITY_POLICY.replace("form-action 'self'; ", "")
    else:
        policy = CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'", f"form-action 'self' {source}".rstrip()
        )
    response.headers["Content-Security-Policy"] = policy
    return response


def _describe_scope(scope: str) -> str:
    parts = scope.split(":")
    if len(parts) == 2 and parts[0] in ("read", "write"):
        verb = "read" if parts[0] == "read" else "change"
        return f"{verb} your {parts[1].replace('_', ' ')}"
    if len(parts) == 3 and parts[0] == "admin":
        verb = "read" if parts[1] == "read" else "moderate"
        return f"{verb} {parts[2].replace('_', ' ')} on the server (administrators)"
    return scope


async def _authorize_get(request: web.Request) -> web.Response:
    params = await Params.read(request)
    try:
        app, redirect_uri = await _registered(request, params)
    except _PageError as exc:
        return _error_page(request, exc.message, exc.status)
    except FedError as exc:
        return _error_page(request, exc.detail, 400)
    try:
        req = _authorize_request(params, app, redirect_uri)
    except OAuthError as exc:
        return _oauth_error_back(request, redirect_uri, _state(params), exc)
    except FedError as exc:
        return _error_page(request, exc.detail, 400)
    return _consent_page(request, app, req)


def _state(params: Params) -> str | None:
    try:
        return params.string("state", max_length=MAX_STATE_LENGTH)
    except FedError:
        return None


async def _authorize_post(request: web.Request) -> web.Response:
    params = await Params.read(request)
    try:
        app, redirect_uri = await _registered(request, params)
        token = params.string("csrf_token", max_length=200) or ""
        req = _authorize_request(params, app, redirect_uri)
    except _PageError as exc:
        return _error_page(request, exc.message, exc.status)
    except OAuthError as exc:
        # A valid form never carries parameters that fail here: it was altered.
        return _error_page(request, f"{exc.description} ({exc.error})", 400)
    except FedError as exc:
        return _error_page(request, exc.detail, 400)
    now = request.app[clock_key]()
    if not form_token_valid(_form_secret(request), req, token, now):
        return _error_page(
            request,
            "This form has expired or was altered. Go back to the application and sign in again.",
            400,
        )
    decision = params.string("decision", max_length=20)
    if decision == "deny":
        return _oauth_error_back(
            request,
            req.redirect_uri,
            req.state,
            OAuthError("access_denied", "The resource owner denied the request."),
        )
    if decision != "authorize":
        return _consent_page(request, app, req, error="Choose Authorize or Deny.", status=400)

    identifier = (params.string("username", max_length=320) or "").strip()
    password = params.string("password", max_length=1024) or ""
    if not identifier or not password:
        return _consent_page(
            request,
            app,
            req,
            error="Enter your username or e-mail address and your password.",
            identifier=identifier,
            status=422,
        )
    store = request.app[store_key]
    config = request.app[config_key]
    user = await _find_user(store, config, identifier)
    verdict = count_sign_in(request, _sign_in_key(user, identifier))
    if verdict is not None and not verdict.allowed:
        response = _consent_page(
            request,
            app,
            req,
            error="Too many sign-in attempts. Wait a few minutes and try again.",
            identifier=identifier,
            status=429,
        )
        set_headers(response, verdict)
        response.headers["Retry-After"] = str(verdict.retry_after)
        return response
    if not await _password_ok(user, password) or user is None:
        return _consent_page(
            request,
            app,
            req,
            error="Wrong username, e-mail address or password.",
            identifier=identifier,
            status=422,
        )
    if not user.user.approved:
        return _consent_page(
            request,
            app,
            req,
            error="Your account is waiting for approval by an administrator.",
            identifier=identifier,
            status=403,
        )
    try:
        _check_role(req.scope, user)
    except OAuthError as exc:
        return _oauth_error_back(request, req.redirect_uri, req.state, exc)

    code = secrets.token_urlsafe(32)
    await store.oauth.create_code(
        code=code,
        app_id=app.id,
        user_id=user.user.id,
        redirect_uri=req.redirect_uri,
        scopes=req.scope,
        code_challenge=req.code_challenge,
        expires_at=now + CODE_LIFETIME,
    )
    if req.redirect_uri == OOB:
        return _page(request, "oauth_code.html", {"app": {"name": app.name}, "code": code})
    return _redirect(req.redirect_uri, {"code": code, "state": req.state})


@routes.get("/oauth/authorize")
async def authorize_page(request: web.Request) -> web.Response:
    return await _authorize_get(request)


@routes.post("/oauth/authorize")
async def authorize_submit(request: web.Request) -> web.Response:
    return await _authorize_post(request)
