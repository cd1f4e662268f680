"""Bearer tokens on API requests: who is calling, with which scopes.

401 when a token is required and missing, unknown or revoked; 403 when its scopes do not
cover the endpoint (SECURITY.md checklist 26: a read token on a write endpoint).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from fedserver.api.scopes import allows
from fedserver.appkeys import store_key
from fedserver.db import LocalUser, OAuthToken
from fedserver.errors import Forbidden, Unauthorized


@dataclass(frozen=True)
class Authorization:
    token: OAuthToken
    #: None for an app's own token (client_credentials).
    user: LocalUser | None
    scopes: frozenset[str]


class TokenInvalid(Unauthorized):
    code = "invalid_token"


#: The request's authorization, looked up once per request.
_CACHE: web.RequestKey[Authorization | None] = web.RequestKey("authorization")


async def authorization(request: web.Request) -> Authorization | None:
    """The request's token, checked; None when there is no Authorization header."""
    if _CACHE in request:
        return request[_CACHE]
    header = request.headers.get("Authorization", "")
    if not header:
        request[_CACHE] = None
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise TokenInvalid("The access token is invalid")
    token_and_user = await request.app[store_key].oauth.token_and_user(value.strip())
    if token_and_user is None:
        raise TokenInvalid("The access token is invalid")
    token, user = token_and_user
    if token.user_id is not None:
        if user is None or user.account.is_deleted:
            raise TokenInvalid("The access token is invalid")
        if not user.user.approved:
            raise Forbidden("Your login is currently pending approval")
    found = Authorization(token=token, user=user, scopes=frozenset(token.scopes.split()))
    request[_CACHE] = found
    return found


async def require_scope(request: web.Request, scope: str) -> Authorization:
    """A valid token (app or user) covering `scope`."""
    found = await authorization(request)
    if found is None:
        raise Unauthorized("The access token is invalid")
    if not allows(found.scopes, scope):
        raise Forbidden("This action is outside the authorized scopes")
    return found


async def require_user(request: web.Request, scope: str) -> LocalUser:
    """A user's token covering `scope` (most endpoints)."""
    found = await require_scope(request, scope)
    if found.user is None:
        raise Unauthorized("This method requires an authenticated user")
    return found.user


async def optional_user(request: web.Request, scope: str = "read") -> LocalUser | None:
    """The user when a token is given (public endpoints personalise with it)."""
    found = await authorization(request)
    if found is None or found.user is None:
        return None
    if not allows(found.scopes, scope):
        raise Forbidden("This action is outside the authorized scopes")
    return found.user
