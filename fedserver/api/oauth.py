"""OAuth2 for the client API, as Mastodon clients expect it (../shared/CLIENTS.md).

- `POST /api/v1/apps` registers an app; `GET /api/v1/apps/verify_credentials` shows it.
- `GET|POST /oauth/authorize`: the authorization-code flow on one server-rendered page
  (sign-in and consent in one POST, no JavaScript, no cookies), PKCE with S256 only
  (GoToSocial #4232), and the out-of-band URI `urn:ietf:wg:oauth:2.0:oob`.
- `POST /oauth/token`: `authorization_code`, `client_credentials`, and `password` only when
  `[api] password_grant` is on (Mastodon 4.4 removed it; scripts still use it).
- `POST /oauth/revoke`, and RFC 8414 metadata at `/.well-known/oauth-authorization-server`.

SECURITY.md R11: `redirect_uri` must be exactly one of the app's (otherwise an error page,
never a redirect: CVE-2026-33868); `javascript:`, `data:` and `vbscript:` redirect URIs are
refused at registration; requested scopes must be covered by the app's (`invalid_scope`),
and admin scopes need an admin (Akkoma 2023.02); codes are stored hashed, single use, and
expire after 10 minutes.

The authorize form carries no cookie: its hidden `csrf_token` is an HMAC over every
parameter of the request and the time it was shown, keyed with a secret derived from the
instance actor's private key, and is valid for an hour. It proves the POST comes back with
the very parameters the page showed; the password typed with it proves who consents.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from aiohttp import web
from cryptography.hazmat.primitives import serialization

from fedserver.api.auth import authorization
from fedserver.api.params import Params
from fedserver.api.ratelimit import count_sign_in, set_headers, too_many_requests
from fedserver.api.routing import ApiRoutes
from fedserver.api.scopes import DEFAULT_SCOPES, KNOWN_SCOPES, is_subset, unknown_scopes
from fedserver.appkeys import clock_key, config_key, ids_key, instance_actor_key, store_key
from fedserver.config import Config
from fedserver.db import LocalUser, Store
from fedserver.db.oauth import OAuthApp, secret_hash
from fedserver.errors import FedError, Unauthorized, UnprocessableEntity
from fedserver.pages import CONTENT_SECURITY_POLICY, render_page
from fedserver.passwords import check_password

routes = ApiRoutes()

OOB = "urn:ietf:wg:oauth:2.0:oob"
CODE_LIFETIME = timedelta(minutes=10)
FORM_LIFETIME = timedelta(hours=1)
#: Redirect URI schemes that run code or carry content instead of naming a place.
FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "vbscript"})
MAX_REDIRECT_URIS = 10
MAX_URI_LENGTH = 2000
MAX_APP_NAME_LENGTH = 60  # Mastodon's limit
MAX_STATE_LENGTH = 2000
_SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.-]*$")
_HOST_RE = re.compile(r"^[A-Za-z0-9.:\[\]-]+$")
#: An S256 challenge is the base64url SHA-256 of the verifier, without padding (RFC 7636).
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_VERIFIER_RE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_FORM_LABEL = b"fedserver oauth authorize form v1"
#: A well-formed hash nobody's password matches: checked when the account does not exist,
#: so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = "scrypt$15$8$1$ZmVkc2VydmVyLWR1bW15IQ==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

SCOPE_DESCRIPTIONS = {
    "read": "read all your account's data",
    "write": "change all your account's data: post, follow, edit your profile",
    "follow": "follow, block and mute accounts",
    "push": "receive your push notifications",
    "profile": "read your profile (name and picture) only",
    "admin:read": "read all data on the server (administrators)",
    "admin:write": "moderate all data on the server (administrators)",
}


# -- errors -------------------------------------------------------------------------


class OAuthError(Exception):
    """An RFC 6749 error, sent in Mastodon's shape `{"error", "error_description"}`."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> web.Response:
        return _no_store(
            web.json_response(
                {"error": self.error, "error_description": self.description}, status=self.status
            )
        )


def _no_store(response: web.Response) -> web.Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _invalid_client() -> OAuthError:
    return OAuthError(
        "invalid_client",
        "Client authentication failed due to unknown client, no client authentication "
        "included, or unsupported authentication method.",
        401,
    )


def _invalid_grant(description: str | None = None) -> OAuthError:
    return OAuthError(
        "invalid_grant",
        description
        or "The provided authorization grant is invalid, expired, revoked, does not match "
        "the redirection URI used in the authorization request, or was issued to another "
        "client.",
    )


# -- small pure helpers -------------------------------------------------------------


def normalize_scopes(text: str | None) -> str:
    """Space-separated, deduplicated, in the order given ('+' works as a space)."""
    return " ".join(dict.fromkeys((text or "").replace("+", " ").split()))


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


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


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


def _default_scopes(app: OAuthApp) -> str:
    """What a request naming no scope gets: Mastodon's default, or the app's own scopes
    when the app did not register that default."""
    if is_subset(frozenset(DEFAULT_SCOPES.split()), frozenset(app.scopes.split())):
        return DEFAULT_SCOPES
    return app.scopes


def _check_scopes(requested: str, app: OAuthApp) -> None:
    scopes = frozenset(requested.split())
    if unknown_scopes(scopes):
        raise OAuthError("invalid_scope", f"Unknown scopes: {', '.join(unknown_scopes(scopes))}")
    if not is_subset(scopes, frozenset(app.scopes.split())):
        raise OAuthError(
            "invalid_scope",
            "The requested scope is invalid, unknown, or malformed: the application did "
            "not register every scope requested.",
        )


def _check_role(scopes: str, user: LocalUser) -> None:
    if not user.user.is_admin and any(s.startswith("admin:") for s in scopes.split()):
        raise OAuthError("invalid_scope", "Admin scopes need an administrator's account")


def _client_secret_matches(app: OAuthApp, secret: str) -> bool:
    return hmac.compare_digest(app.client_secret_hash, secret_hash(secret))


async def _find_user(store: Store, config: Config, identifier: str) -> LocalUser | None:
    """A local user by e-mail, username, `@username` or `username@our.domain`."""
    name = identifier.strip().removeprefix("@")
    if not name:
        return None
    if "@" in name:
        user = await store.accounts.local_user_by_email(name)
        if user is not None:
            return user
        name, _, domain = name.rpartition("@")
        if domain.lower() not in (config.domain.lower(), config.instance.host.lower()):
            return None
    return await store.accounts.local_user(name) if name else None


async def _password_ok(user: LocalUser | None, password: str) -> bool:
    """Constant work whether or not the account exists; deleted accounts never sign in."""
    usable = user is not None and not user.account.is_deleted
    stored = user.user.password_hash if user is not None and usable else _DUMMY_HASH
    matches = await asyncio.to_thread(check_password, password[:1024], stored)
    return matches and usable


def _sign_in_key(user: LocalUser | None, identifier: str) -> str:
    return f"user:{user.user.id}" if user is not None else f"name:{identifier.strip().lower()}"


# -- app registration ---------------------------------------------------------------


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
    return web.json_response(app_entity(app, client_secret=client_secret))


@routes.get("/api/v1/apps/verify_credentials")
async def verify_app_credentials(request: web.Request) -> web.Response:
    found = await authorization(request)
    if found is None:
        raise Unauthorized("The access token is invalid")
    app = await request.app[store_key].oauth.app_by_id(found.token.app_id)
    if app is None:
        raise Unauthorized("The access token is invalid")
    return web.json_response(app_entity(app))


# -- the authorize page -------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizeRequest:
    """The parameters of one authorization request, checked."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None

    def hidden_fields(self) -> dict[str, str]:
        fields = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
        }
        if self.state is not None:
            fields["state"] = self.state
        if self.code_challenge is not None:
            fields["code_challenge"] = self.code_challenge
            fields["code_challenge_method"] = self.code_challenge_method or ""
        return fields


class _PageError(Exception):
    """A problem shown on an error page, never redirected (unknown app, wrong URI)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _form_secret(request: web.Request) -> bytes:
    key = request.app[instance_actor_key].keys.ed25519
    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return hmac.new(raw, _FORM_LABEL, hashlib.sha256).digest()


def _form_mac(secret: bytes, req: AuthorizeRequest, issued: int) -> str:
    message = json.dumps(
        [
            req.client_id,
            req.redirect_uri,
            req.scope,
            req.state,
            req.code_challenge,
            req.code_challenge_method,
            issued,
        ]
    )
    return hmac.new(secret, message.encode("utf-8"), hashlib.sha256).hexdigest()


def form_token(secret: bytes, req: AuthorizeRequest, now: datetime) -> str:
    issued = int(now.timestamp())
    return f"{issued}.{_form_mac(secret, req, issued)}"


def form_token_valid(secret: bytes, req: AuthorizeRequest, token: str, now: datetime) -> bool:
    issued_text, _, mac = token.partition(".")
    if not issued_text.isdigit() or len(issued_text) > 12:
        return False
    issued = int(issued_text)
    age = now.timestamp() - issued
    if not -60 <= age <= FORM_LIFETIME.total_seconds():
        return False
    return hmac.compare_digest(mac, _form_mac(secret, req, issued))


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
    scope = normalize_scopes(params.string("scope", max_length=5000)) or _default_scopes(app)
    _check_scopes(scope, app)
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


# -- tokens -------------------------------------------------------------------------


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


def _requested_scopes(params: Params, app: OAuthApp) -> str:
    scope = normalize_scopes(params.string("scope", max_length=5000)) or _default_scopes(app)
    _check_scopes(scope, app)
    return scope


async def _issue(
    request: web.Request, app: OAuthApp, user_id: int | None, scopes: str
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
    )
    return _no_store(web.json_response(token_entity(token, scopes, now)))


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
    return await _issue(request, app, user.user.id, found.scopes)


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
    return _no_store(web.json_response({}))


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
    return web.json_response(
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
