"""Body digests: RFC 3230 `Digest` and RFC 9530 `Content-Digest` (pure).

A signature covers the digest header, not the body, so the digest must be
recomputed over the exact raw bytes received (before any JSON parsing) and
compared; skipping that is how Misskey CVE-2023-49079 let anyone impersonate anyone.

* `Digest: SHA-256=<base64>` (https://www.rfc-editor.org/rfc/rfc3230): the
  algorithm name is case-insensitive; bovine sends `sha-256=`, snac only accepts
  `SHA-256=`, so we send uppercase and accept any case.
* `Content-Digest: sha-256=:<base64>:` (https://www.rfc-editor.org/rfc/rfc9530):
  an RFC 8941 Dictionary, so keys are lowercase and `SHA-256=` is a malformed
  field (400), exactly as Mastodon answers.

SHA-256 and SHA-512 are checked; other algorithms are ignored, and a header that
carries none of the two is refused. Every supported one present must match.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Final

from fedserver.errors import BadRequest, SignatureInvalid
from fedserver.signatures.structured import (
    Item,
    StructuredFieldError,
    parse_dictionary,
    serialize_dictionary,
)

__all__ = [
    "check_content_digest",
    "check_digest",
    "content_digest_header",
    "digest_header",
]

_HASHES: Final = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}


def digest_header(body: bytes, algorithm: str = "sha-256") -> str:
    """The `Digest` value for `body`, uppercase as snac requires.

    >>> digest_header(b"Hello world")
    'SHA-256=ZOyIygCyaOW6GjVnihtTFtIS9PNmskdyMlNKiuyjfzw='
    """
    digest = _HASHES[algorithm](body).digest()
    return f"{algorithm.upper()}={base64.b64encode(digest).decode('ascii')}"


def content_digest_header(body: bytes, algorithm: str = "sha-256") -> str:
    """The RFC 9530 `Content-Digest` value for `body`.

    >>> content_digest_header(b"Hello world")
    'sha-256=:ZOyIygCyaOW6GjVnihtTFtIS9PNmskdyMlNKiuyjfzw=:'
    """
    return serialize_dictionary({algorithm: Item(_HASHES[algorithm](body).digest())})


def _compare(algorithm: str, expected: bytes, body: bytes, header: str) -> None:
    actual = _HASHES[algorithm](body).digest()
    if not hmac.compare_digest(actual, expected):
        computed = base64.b64encode(actual).decode("ascii")
        given = base64.b64encode(expected).decode("ascii")
        raise SignatureInvalid(
            f"{header} does not match body: computed {algorithm.upper()} "
            f"{computed}, header says {given}"
        )


def check_digest(value: str, body: bytes) -> None:
    """Check a `Digest` header (`SHA-256=...`, any case, comma-separated) over `body`.

    Raises BadRequest if the header cannot be parsed, SignatureInvalid if it names
    no supported algorithm or does not match ("Digest does not match body: ...").
    """
    found = False
    for part in value.split(","):
        name, sep, encoded = part.strip().partition("=")
        if not sep or not name:
            raise BadRequest(f"Digest header is malformed: {part.strip()!r}")
        algorithm = name.lower()
        if algorithm not in _HASHES:
            continue
        try:
            expected = binascii.a2b_base64(encoded, strict_mode=True)
        except ValueError:  # binascii.Error, or a non-ASCII character in the value
            raise BadRequest(f"Digest header {name} value is not base64") from None
        _compare(algorithm, expected, body, "Digest")
        found = True
    if not found:
        raise SignatureInvalid(
            f"Digest header {value!r} has no supported algorithm (SHA-256, SHA-512)"
        )


def check_content_digest(value: str, body: bytes) -> None:
    """Check an RFC 9530 `Content-Digest` header over `body`.

    Raises BadRequest if it is not a Dictionary of byte sequences (e.g.
    `SHA-256=:...:`), SignatureInvalid if it names no supported algorithm or does
    not match.
    """
    try:
        members = parse_dictionary(value)
    except StructuredFieldError as exc:
        raise BadRequest(
            f"Content-Digest is not a valid structured-field dictionary: {exc}"
        ) from None
    found = False
    for algorithm, member in members.items():
        if not isinstance(member, Item) or not isinstance(member.value, bytes):
            raise BadRequest(f"Content-Digest member {algorithm!r} is not a byte sequence")
        if algorithm in _HASHES:
            _compare(algorithm, member.value, body, "Content-Digest")
            found = True
    if not found:
        raise SignatureInvalid(
            f"Content-Digest {value!r} has no supported algorithm (sha-256, sha-512)"
        )
