"""The authorize form: the checked request it carries in hidden fields, and its CSRF token.

The authorize form carries no cookie: its hidden `csrf_token` is an HMAC over every
parameter of the request and the time it was shown, keyed with a secret derived from the
instance actor's private key, and is valid for an hour. It proves the POST comes back with
the very parameters the page showed; the password typed with it proves who consents.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from cryptography.hazmat.primitives import serialization

from fedserver.appkeys import instance_actor_key

FORM_LIFETIME = timedelta(hours=1)
_FORM_LABEL = b"fedserver oauth authorize form v1"


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
