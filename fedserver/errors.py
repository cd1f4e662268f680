"""The one error hierarchy of fedserver, and the JSON body every error is sent as.

Pure: no aiohttp import. `fedserver.middleware` turns these into responses.

The contract, for clients and peers alike (Mastodon's Error entity, plus a stable code)::

    HTTP/1.1 404 Not Found
    Content-Type: application/json

    {"error": "no user named 'bob'", "code": "not_found"}

`error` is a sentence for people; `code` is stable and meant for programs.

    FedError                      anything a requester can be told about (400)
    ├── BadRequest                400 bad_request
    │   ├── InvalidJSON           400 invalid_json
    │   ├── InvalidActivity       400 invalid_activity
    │   └── SignatureMalformed    400 malformed_signature
    ├── Unauthorized              401 unauthorized
    │   └── SignatureInvalid      401 invalid_signature
    ├── Forbidden                 403 forbidden
    ├── NotFound                  404 not_found
    ├── NotAcceptable             406 not_acceptable
    ├── Conflict                  409 conflict
    ├── Gone                      410 gone
    ├── PayloadTooLarge           413 payload_too_large
    ├── UnsupportedMediaType      415 unsupported_media_type
    ├── UnprocessableEntity       422 unprocessable_entity
    ├── RateLimited               429 rate_limited
    └── FetchError                502 fetch_failed (a remote server misbehaved)
        └── FetchRefused          the request was never sent (address or scheme policy)

Never raise FedError for a bug: bugs stay plain exceptions and become a logged 500.
"""

from __future__ import annotations

from typing import Any, ClassVar


class FedError(Exception):
    """Base for errors a client or peer can be told about."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def body(self) -> dict[str, Any]:
        """The JSON body sent for this error."""
        return error_body(self.detail, self.code)


class BadRequest(FedError):
    status = 400
    code = "bad_request"


class InvalidJSON(BadRequest):
    code = "invalid_json"


class InvalidActivity(BadRequest):
    code = "invalid_activity"


class SignatureMalformed(BadRequest):
    """A signature header that cannot be parsed at all."""

    code = "malformed_signature"


class Unauthorized(FedError):
    status = 401
    code = "unauthorized"


class SignatureInvalid(Unauthorized):
    """A signature that parses but does not prove what it must."""

    code = "invalid_signature"


class Forbidden(FedError):
    status = 403
    code = "forbidden"


class NotFound(FedError):
    status = 404
    code = "not_found"


class NotAcceptable(FedError):
    status = 406
    code = "not_acceptable"


class Conflict(FedError):
    status = 409
    code = "conflict"


class Gone(FedError):
    status = 410
    code = "gone"


class PayloadTooLarge(FedError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(FedError):
    status = 415
    code = "unsupported_media_type"


class UnprocessableEntity(FedError):
    status = 422
    code = "unprocessable_entity"


class RateLimited(FedError):
    status = 429
    code = "rate_limited"


class FetchError(FedError):
    """An outbound request failed: refused, timed out, too large, or not a valid document."""

    status = 502
    code = "fetch_failed"


class FetchRefused(FetchError):
    """The outbound request was refused before any connection (private address, scheme)."""

    code = "fetch_refused"


def error_body(detail: str, code: str) -> dict[str, Any]:
    """The JSON error shape, shared by the middleware and the few handlers that build one."""
    return {"error": detail, "code": code}
