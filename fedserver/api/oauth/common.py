"""What registration, the authorize page and the token endpoint share: the out-of-band
redirect URI and URI limits, and the scopes a request asks for (defaults and checks)."""

from __future__ import annotations

import re

from fedserver.api.oauth.errors import OAuthError
from fedserver.api.params import Params
from fedserver.api.scopes import DEFAULT_SCOPES, is_subset, unknown_scopes
from fedserver.db import LocalUser
from fedserver.db.oauth import OAuthApp

OOB = "urn:ietf:wg:oauth:2.0:oob"
MAX_URI_LENGTH = 2000
_SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.-]*$")


def normalize_scopes(text: str | None) -> str:
    """Space-separated, deduplicated, in the order given ('+' works as a space)."""
    return " ".join(dict.fromkeys((text or "").replace("+", " ").split()))


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


def _requested_scopes(params: Params, app: OAuthApp) -> str:
    scope = normalize_scopes(params.string("scope", max_length=5000)) or _default_scopes(app)
    _check_scopes(scope, app)
    return scope


def _check_role(scopes: str, user: LocalUser) -> None:
    if not user.user.is_admin and any(s.startswith("admin:") for s in scopes.split()):
        raise OAuthError("invalid_scope", "Admin scopes need an administrator's account")
