"""OAuth errors: RFC 6749's error responses in Mastodon's shape, never cached."""

from __future__ import annotations

from aiohttp import web

from fedserver.responses import json_response


class OAuthError(Exception):
    """An RFC 6749 error, sent in Mastodon's shape `{"error", "error_description"}`."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> web.Response:
        return _no_store(
            json_response(
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
