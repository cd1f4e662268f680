"""Sign-up through the API: `POST /api/v1/accounts` (toot's `register`, Mastodon's apps).

The caller holds a token with `write:accounts`, usually an app token from the
`client_credentials` grant. `[registrations] mode` decides: `closed` refuses (403),
`approval` creates the account unapproved (it cannot sign in until an administrator
approves it), `open` creates it ready. Validation errors answer 422 in Mastodon's shape,
every problem at once::

    {"error": "Validation failed: Username is reserved, Agreement must be accepted",
     "details": {"username": [{"error": "ERR_RESERVED", "description": "is reserved"}],
                 "agreement": [{"error": "ERR_ACCEPTED", "description": "must be accepted"}]}}

The answer is a Token entity for the new user, with the app token's scopes. Sign-ups are
limited per address (`[api] sign_ups_per_30min`).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from aiohttp import web

from actors.service import (
    EMAIL_RE,
    MAX_PASSWORD_LENGTH,
    MAX_USERNAME_LENGTH,
    MIN_PASSWORD_LENGTH,
    USERNAME_RE,
    create_user,
)
from fedserver.api.auth import require_scope
from fedserver.api.oauth.tokens import token_entity
from fedserver.api.params import Params
from fedserver.api.ratelimit import count_sign_up, too_many_requests
from fedserver.api.routing import ApiRoutes
from fedserver.appkeys import clock_key, config_key, ids_key, store_key
from fedserver.config import Config
from fedserver.db import Store
from fedserver.errors import Conflict, Forbidden, UnprocessableEntity
from fedserver.responses import json_response

routes = ApiRoutes()

MAX_REASON_LENGTH = 1000
MAX_EMAIL_LENGTH = 254
_LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8}){0,3}$")

_LABELS = {
    "username": "Username",
    "email": "E-mail",
    "password": "Password",
    "agreement": "Agreement",
    "reason": "Reason",
    "locale": "Locale",
}


class Problems:
    """Validation problems by field, in Mastodon's `details` shape."""

    def __init__(self) -> None:
        self.details: dict[str, list[dict[str, str]]] = {}

    def add(self, field: str, error: str, description: str) -> None:
        self.details.setdefault(field, []).append({"error": error, "description": description})

    def __bool__(self) -> bool:
        return bool(self.details)

    def response(self) -> web.Response:
        sentences = [
            f"{_LABELS.get(field, field.capitalize())} {problem['description']}"
            for field, problems in self.details.items()
            for problem in problems
        ]
        body: dict[str, Any] = {
            "error": "Validation failed: " + ", ".join(sentences),
            "code": "validation_failed",
            "details": self.details,
        }
        return json_response(body, status=422)


def reserved_usernames(config: Config) -> set[str]:
    """Configured names, plus the instance actor's (the host)."""
    return {name.lower() for name in config.registrations.reserved_usernames} | {
        config.instance.host.lower()
    }


async def _check_username(
    problems: Problems, store: Store, username: str, reserved: set[str]
) -> None:
    if not username:
        problems.add("username", "ERR_BLANK", "can't be blank")
    elif len(username) > MAX_USERNAME_LENGTH:
        problems.add(
            "username", "ERR_TOO_LONG", f"is too long (maximum is {MAX_USERNAME_LENGTH} characters)"
        )
    elif not USERNAME_RE.match(username):
        problems.add(
            "username",
            "ERR_INVALID",
            "must contain only letters, numbers and underscores (dots and dashes inside)",
        )
    elif username.lower() in reserved:
        problems.add("username", "ERR_RESERVED", "is reserved")
    elif await store.accounts.local_user(username) is not None:
        problems.add("username", "ERR_TAKEN", "is already taken")


async def _check_email(problems: Problems, store: Store, email: str) -> None:
    if not email:
        problems.add("email", "ERR_BLANK", "can't be blank")
    elif len(email) > MAX_EMAIL_LENGTH or not EMAIL_RE.match(email):
        problems.add("email", "ERR_INVALID", "is invalid")
    elif await store.accounts.local_user_by_email(email) is not None:
        problems.add("email", "ERR_TAKEN", "is already taken")


def _check_password(problems: Problems, password: str) -> None:
    if not password:
        problems.add("password", "ERR_BLANK", "can't be blank")
    elif len(password) < MIN_PASSWORD_LENGTH:
        problems.add(
            "password",
            "ERR_TOO_SHORT",
            f"is too short (minimum is {MIN_PASSWORD_LENGTH} characters)",
        )
    elif len(password) > MAX_PASSWORD_LENGTH:
        problems.add(
            "password", "ERR_TOO_LONG", f"is too long (maximum is {MAX_PASSWORD_LENGTH} characters)"
        )


@routes.post("/api/v1/accounts")
async def register(request: web.Request) -> web.Response:
    found = await require_scope(request, "write:accounts")
    config = request.app[config_key]
    mode = config.registrations.mode
    if mode == "closed":
        raise Forbidden("Registrations are closed on this server")
    verdict = count_sign_up(request)
    if verdict is not None and not verdict.allowed:
        return too_many_requests(verdict, "Too many sign-ups from this address; try again later")

    params = await Params.read(request)
    store = request.app[store_key]
    username = (params.string("username", max_length=1000) or "").strip()
    email = (params.string("email", max_length=1000) or "").strip()
    password = params.string("password", max_length=MAX_PASSWORD_LENGTH + 1) or ""
    reason = (params.string("reason", max_length=MAX_REASON_LENGTH + 1) or "").strip()
    locale = (params.string("locale", max_length=100) or "").strip()
    try:
        agreement = params.boolean("agreement", False)
    except UnprocessableEntity:
        agreement = False

    problems = Problems()
    reserved = reserved_usernames(config)
    await _check_username(problems, store, username, reserved)
    await _check_email(problems, store, email)
    _check_password(problems, password)
    if not agreement:
        problems.add("agreement", "ERR_ACCEPTED", "must be accepted")
    if mode == "approval" and config.registrations.require_reason and not reason:
        problems.add("reason", "ERR_BLANK", "can't be blank")
    if len(reason) > MAX_REASON_LENGTH:
        problems.add(
            "reason", "ERR_TOO_LONG", f"is too long (maximum is {MAX_REASON_LENGTH} characters)"
        )
    if locale and not _LOCALE_RE.match(locale):
        problems.add("locale", "ERR_INCLUSION", "is not included in the list")
    if problems:
        return problems.response()

    now = request.app[clock_key]()
    try:
        user = await create_user(
            store,
            request.app[ids_key],
            now,
            username=username,
            password=password,
            email=email,
            is_admin=False,
            approved=mode == "open",
            reserved=reserved,
        )
    except Conflict as exc:  # taken between the check and the insert
        problems.add(
            "email" if "e-mail" in exc.detail else "username", "ERR_TAKEN", "is already taken"
        )
        return problems.response()
    if reason:
        await store.accounts.set_sign_up_reason(user.user.id, reason)

    token = secrets.token_urlsafe(32)
    await store.oauth.create_token(
        token_id=request.app[ids_key](),
        token=token,
        app_id=found.token.app_id,
        user_id=user.user.id,
        scopes=found.token.scopes,
        now=now,
    )
    response = json_response(token_entity(token, found.token.scopes, now))
    response.headers["Cache-Control"] = "no-store"
    return response
