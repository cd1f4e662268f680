"""sign_cavage with a digest computed by the caller (once per fan-out), the cached
HTTP date and URL split of the signing path, and the signer's per-body digest memo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from fedserver.errors import SignatureInvalid
from fedserver.signatures import digest_header, format_http_date, sign_cavage
from fedserver.signing import make_signer
from tests.fedserver.signatures.helpers import ACTOR_KEY_ID, INBOX, NOW, verify_url

BODY = b'{"type": "Create", "actor": "https://example.com/users/alice"}'


def _sign(key: rsa.RSAPrivateKey, body: bytes, **kwargs: object) -> dict[str, str]:
    return sign_cavage(
        "POST", INBOX, {}, body, key_id=ACTOR_KEY_ID, private_key=key, now=NOW, **kwargs
    )  # type: ignore[arg-type]


def test_precomputed_digest_signs_exactly_what_computing_it_signs(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    computed = _sign(rsa_key, BODY)
    given = _sign(rsa_key, BODY, digest=digest_header(BODY))
    assert given == computed  # PKCS#1 v1.5 is deterministic: the very same headers
    assert given["Digest"] == digest_header(BODY)
    verify_url("POST", INBOX, given, BODY, rsa_key.public_key())


def test_a_wrong_precomputed_digest_is_refused_by_our_verifier(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    """Taken as given, so it is signed; the receiver (our own verifier here) compares it
    with the body it got and refuses the request."""
    wrong = digest_header(b'{"type": "Delete"}')
    headers = _sign(rsa_key, BODY, digest=wrong)
    assert headers["Digest"] == wrong
    with pytest.raises(SignatureInvalid, match="Digest does not match body"):
        verify_url("POST", INBOX, headers, BODY, rsa_key.public_key())


@pytest.mark.parametrize("digest", ["SHA-256=abc\nhost: evil.example", "SHA-256=abc\r"])
def test_a_precomputed_digest_cannot_add_lines(rsa_key: rsa.RSAPrivateKey, digest: str) -> None:
    with pytest.raises(ValueError, match="not a header value"):
        _sign(rsa_key, BODY, digest=digest)


def test_a_digest_given_for_an_unsigned_get_body_is_ignored(rsa_key: rsa.RSAPrivateKey) -> None:
    headers = sign_cavage(
        "GET",
        INBOX,
        {},
        b"",
        key_id=ACTOR_KEY_ID,
        private_key=rsa_key,
        now=NOW,
        digest=digest_header(BODY),
    )
    assert "Digest" not in headers


def test_signing_date_follows_the_clock_across_seconds(rsa_key: rsa.RSAPrivateKey) -> None:
    moments = [
        NOW,
        NOW + timedelta(milliseconds=999),
        NOW + timedelta(seconds=1),
        NOW - timedelta(milliseconds=1),
        datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC),
        NOW.astimezone(datetime.now().astimezone().tzinfo),
    ]
    for moment in moments:
        headers = sign_cavage(
            "GET", INBOX, {}, b"", key_id=ACTOR_KEY_ID, private_key=rsa_key, now=moment
        )
        assert headers["Date"] == format_http_date(moment)


def test_signing_refuses_a_naive_datetime_even_in_a_cached_second(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    sign_cavage("GET", INBOX, {}, b"", key_id=ACTOR_KEY_ID, private_key=rsa_key, now=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_cavage(
            "GET",
            INBOX,
            {},
            b"",
            key_id=ACTOR_KEY_ID,
            private_key=rsa_key,
            now=NOW.replace(tzinfo=None),
        )


def test_signing_an_invalid_url_still_raises_every_time(rsa_key: rsa.RSAPrivateKey) -> None:
    for _ in range(2):
        with pytest.raises(ValueError, match="not an absolute http"):
            sign_cavage(
                "GET", "ftp://x.example/", {}, b"", key_id="k", private_key=rsa_key, now=NOW
            )


def test_signer_digests_each_body_it_is_given(rsa_key: rsa.RSAPrivateKey) -> None:
    """The signer keeps the last body's digest; another body, equal or not, is digested
    afresh, and every signature verifies against the body it was made for."""
    sign = make_signer(ACTOR_KEY_ID, rsa_key, lambda: NOW)
    first = bytes(BODY)
    second = b'{"type": "Delete", "actor": "https://example.com/users/alice"}'
    for body in (first, first, second, first, bytearray(second).copy(), second):
        data = bytes(body)
        headers = sign("POST", INBOX, {}, data, "cavage")
        assert headers["Digest"] == digest_header(data)
        verify_url("POST", INBOX, headers, data, rsa_key.public_key())
