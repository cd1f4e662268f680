"""Keys, body digests and HTTP dates / the replay window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

from fedserver.errors import BadRequest, SignatureInvalid
from fedserver.signatures import (
    SignedRequest,
    check_content_digest,
    check_digest,
    check_public_key,
    check_time_window,
    content_digest_header,
    digest_header,
    ed25519_key_from_multikey,
    format_http_date,
    generate_ed25519_key,
    load_private_key,
    load_public_key,
    parse_http_date,
    private_key_pem,
    public_key_multikey,
    public_key_pem,
)
from fedserver.signatures.model import split_url
from tests.fedserver.signatures.helpers import NOW, pem

# --- keys ---------------------------------------------------------------------


def test_generated_rsa_key_round_trips_through_pem(rsa_key: rsa.RSAPrivateKey) -> None:
    assert rsa_key.key_size == 2048
    loaded = load_private_key(private_key_pem(rsa_key))
    assert isinstance(loaded, rsa.RSAPrivateKey)
    assert public_key_pem(loaded) == public_key_pem(rsa_key)
    public = load_public_key(public_key_pem(rsa_key))
    assert public.public_numbers() == rsa_key.public_key().public_numbers()  # type: ignore[union-attr]


def test_vector_pems_load() -> None:
    """SPKI, PKCS#1 `RSA PUBLIC KEY`, SEC1 EC and PKCS#8 all load."""
    assert isinstance(load_public_key(pem("rfc9421/test-key-rsa.pub.pem")), rsa.RSAPublicKey)
    assert isinstance(
        load_public_key(pem("rfc9421/test-key-ecc-p256.pub.pem")),
        ec.EllipticCurvePublicKey,
    )
    assert isinstance(
        load_private_key(pem("rfc9421/test-key-ecc-p256.priv.pem")),
        ec.EllipticCurvePrivateKey,
    )
    assert isinstance(load_private_key(pem("rfc9421/test-key-rsa-pss.priv.pem")), rsa.RSAPrivateKey)


def test_bad_public_keys_refused() -> None:
    with pytest.raises(SignatureInvalid, match="not a valid PEM key"):
        load_public_key("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----")
    with pytest.raises(SignatureInvalid, match="RSA key has 1,024 bits"):
        load_public_key(pem("cavage12/test-key.pub.pem"))
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(SignatureInvalid, match="curve secp384r1 not supported"):
        load_public_key(public_key_pem(p384))
    dsa_key = dsa.generate_private_key(2048).public_key()
    with pytest.raises(SignatureInvalid, match="key type DSA not supported"):
        check_public_key(dsa_key)


def test_bad_private_keys_are_value_errors() -> None:
    with pytest.raises(ValueError, match="private key refused: RSA key has 1,024"):
        load_private_key(pem("cavage12/test-key.priv.pem"))
    assert load_private_key(pem("cavage12/test-key.priv.pem"), min_rsa_bits=1024)
    dsa_pem = dsa.generate_private_key(2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="not supported"):
        load_private_key(dsa_pem)


def test_ed25519_multikey_round_trip() -> None:
    key = generate_ed25519_key()
    multikey = public_key_multikey(key)
    assert multikey.startswith("z6Mk")
    assert ed25519_key_from_multikey(multikey).public_bytes_raw() == (
        key.public_key().public_bytes_raw()
    )
    with pytest.raises(SignatureInvalid, match="not an Ed25519 multikey"):
        ed25519_key_from_multikey("z" + "1" * 10)


def test_ed25519_public_pem(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    loaded = load_public_key(public_key_pem(ed25519_key))
    assert isinstance(loaded, ed25519.Ed25519PublicKey)


# --- digests ------------------------------------------------------------------


def test_digest_headers_for_known_body() -> None:
    body = b"Hello world"
    assert digest_header(body) == "SHA-256=ZOyIygCyaOW6GjVnihtTFtIS9PNmskdyMlNKiuyjfzw="
    assert content_digest_header(body) == ("sha-256=:ZOyIygCyaOW6GjVnihtTFtIS9PNmskdyMlNKiuyjfzw=:")


@pytest.mark.parametrize(
    "header",
    [
        "SHA-256=ZOyIygCyaOW6GjVnihtTFtIS9PNmskdyMlNKiuyjfzw=",
        "sha-256=ZOyIygCyaOW6GjVnihtTFtIS9PNmskdyMlNKiuyjfzw=",
        "Sha-256=ZOyIygCyaOW6GjVnihtTFtIS9PNmskdyMlNKiuyjfzw=",
        "MD5=PiWWCnnbxptnTNTsZ6csYg==, SHA-256=ZOyIygCyaOW6GjVnihtTFtIS9PNmskdyMlNKiuyjfzw=",
        digest_header(b"Hello world", "sha-512"),
    ],
)
def test_digest_accepted_in_any_case(header: str) -> None:
    check_digest(header, b"Hello world")


def test_digest_every_supported_value_must_match() -> None:
    both = f"{digest_header(b'Hello world')},{digest_header(b'other', 'sha-512')}"
    with pytest.raises(SignatureInvalid, match="computed SHA-512"):
        check_digest(both, b"Hello world")


def test_content_digest_checks() -> None:
    body = b"Hello world"
    check_content_digest(content_digest_header(body, "sha-512"), body)
    check_content_digest(f"md5=:AAAA:, {content_digest_header(body)}", body)
    with pytest.raises(SignatureInvalid, match="no supported algorithm"):
        check_content_digest("md5=:AAAA:", body)
    with pytest.raises(BadRequest, match="is not a byte sequence"):
        check_content_digest("sha-256=abc", body)
    with pytest.raises(BadRequest, match="not a valid structured-field dictionary"):
        check_content_digest("sha-256=:ZOyI", body)


# --- dates and the time window -----------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "Wed, 20 Dec 2023 10:00:00 GMT",
        "Wednesday, 20-Dec-23 10:00:00 GMT",
        "Wed Dec 20 10:00:00 2023",
    ],
)
def test_http_date_formats(value: str) -> None:
    """RFC 9110 5.6.7: IMF-fixdate and the two obsolete formats."""
    assert parse_http_date(value) == datetime(2023, 12, 20, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "wrong date",
        "Wed, 20 Dec 2023 10:00:00 +0000",
        "Wed, 31 Feb 2023 10:00:00 GMT",
        "2023-12-20T10:00:00Z",
        "",
    ],
)
def test_bad_http_dates(value: str) -> None:
    with pytest.raises(SignatureInvalid, match="is not an HTTP date"):
        parse_http_date(value)


def test_format_http_date() -> None:
    assert format_http_date(NOW) == "Wed, 01 May 2024 12:00:00 GMT"
    paris = datetime(2024, 5, 1, 14, 0, tzinfo=UTC).astimezone()
    assert format_http_date(paris) == "Wed, 01 May 2024 14:00:00 GMT"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_http_date(datetime(2024, 5, 1))


def window(
    created: datetime | None = None,
    date: datetime | None = None,
    expires: datetime | None = None,
) -> SignedRequest:
    return SignedRequest(
        scheme="draft-cavage-12",
        key_id="k",
        algorithm=None,
        covered=(),
        created=created,
        expires=expires,
        date=date,
        signature=b"",
        messages=(),
    )


def test_time_window_messages() -> None:
    check_time_window(window(date=NOW), now=NOW + timedelta(seconds=3900))
    with pytest.raises(SignatureInvalid, match=r"^date is 3,960 s old \(max 3,900 s\)$"):
        check_time_window(window(date=NOW), now=NOW + timedelta(seconds=3960))
    with pytest.raises(SignatureInvalid, match="signature has no signed date"):
        check_time_window(window(), now=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        check_time_window(window(date=NOW), now=datetime(2024, 5, 1))


def test_time_window_checks_both_date_and_created() -> None:
    old = NOW - timedelta(hours=3)
    with pytest.raises(SignatureInvalid, match="date is 10,800 s old"):
        check_time_window(window(created=NOW, date=old), now=NOW)


def test_split_url() -> None:
    assert split_url("https://Example.com:443/a?b=1#frag") == (
        "https",
        "example.com",
        "/a?b=1",
    )
    assert split_url("http://localhost:8080") == ("http", "localhost:8080", "/")
    assert split_url("https://[::1]:8443/x") == ("https", "[::1]:8443", "/x")
    with pytest.raises(ValueError, match="not an absolute http"):
        split_url("/relative")
