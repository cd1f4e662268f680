"""Sign with our signers, verify with our verifier: every scheme, algorithm, method."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from fedserver.signatures import (
    PrivateKey,
    content_digest_header,
    digest_header,
    sign_cavage,
    sign_rfc9421,
)
from fedserver.signatures.algorithms import Algorithm
from tests.fedserver.signatures.helpers import (
    ACTOR_KEY_ID,
    INBOX,
    NOW,
    verify_url,
)

BODY = b'{"type": "Follow", "actor": "https://remote.example/users/bob"}'
JSON_TYPE = {"Content-Type": "application/activity+json"}
OUTBOX_PAGE = "https://example.com/users/alice/outbox?page=true&min_id=5"


@pytest.fixture(params=["rsa", "ed25519"])
def cavage_key(
    request: pytest.FixtureRequest,
    rsa_key: rsa.RSAPrivateKey,
    ed25519_key: ed25519.Ed25519PrivateKey,
) -> PrivateKey:
    return rsa_key if request.param == "rsa" else ed25519_key


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [("POST", INBOX, BODY), ("GET", OUTBOX_PAGE, b""), ("GET", INBOX, b"")],
)
def test_cavage_round_trip(cavage_key: PrivateKey, method: str, url: str, body: bytes) -> None:
    headers = sign_cavage(
        method,
        url,
        JSON_TYPE,
        body,
        key_id=ACTOR_KEY_ID,
        private_key=cavage_key,
        now=NOW,
    )
    signed = verify_url(method, url, {**JSON_TYPE, **headers}, body, cavage_key.public_key())
    assert signed.key_id == ACTOR_KEY_ID
    assert signed.scheme == "draft-cavage-12"
    assert signed.date == NOW
    expected_alg = "rsa-sha256" if isinstance(cavage_key, rsa.RSAPrivateKey) else "hs2019"
    assert signed.algorithm == expected_alg
    if method == "POST":
        assert signed.covered == ("(request-target)", "host", "date", "digest")
    else:
        assert signed.covered == ("(request-target)", "host", "date")


def test_cavage_post_profile_headers(rsa_key: rsa.RSAPrivateKey) -> None:
    """The PEERS.md profile: IMF-fixdate Date, uppercase SHA-256 Digest, rsa-sha256."""
    headers = sign_cavage(
        "POST", INBOX, {}, BODY, key_id=ACTOR_KEY_ID, private_key=rsa_key, now=NOW
    )
    assert headers["Date"] == "Wed, 01 May 2024 12:00:00 GMT"
    assert headers["Host"] == "example.com"
    assert headers["Digest"] == digest_header(BODY)
    assert headers["Digest"].startswith("SHA-256=")
    assert headers["Signature"].startswith(
        f'keyId="{ACTOR_KEY_ID}",algorithm="rsa-sha256",'
        'headers="(request-target) host date digest",signature="'
    )


def test_cavage_extra_signed_header(rsa_key: rsa.RSAPrivateKey) -> None:
    """bovine-style: content-type signed too, read from `headers`."""
    headers = sign_cavage(
        "POST",
        INBOX,
        JSON_TYPE,
        BODY,
        key_id=ACTOR_KEY_ID,
        private_key=rsa_key,
        now=NOW,
        extra_signed=["Content-Type"],
    )
    signed = verify_url("POST", INBOX, {**JSON_TYPE, **headers}, BODY, rsa_key.public_key())
    assert signed.covered[-1] == "content-type"


def test_cavage_snac_style_get_with_empty_body_digest(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    """snac signs its GETs with a Digest of the empty body; that verifies."""
    headers = sign_cavage(
        "GET",
        INBOX,
        {},
        b"",
        key_id=ACTOR_KEY_ID,
        private_key=rsa_key,
        now=NOW,
        digest_on_get=True,
    )
    assert headers["Digest"] == "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    signed = verify_url("GET", INBOX, headers, b"", rsa_key.public_key())
    assert "digest" in signed.covered


def test_cavage_host_with_port_and_default_port(rsa_key: rsa.RSAPrivateKey) -> None:
    """localhost:8080 keeps its port; https://host:443 is signed as plain host."""
    for url, host in [
        ("http://localhost:8080/inbox", "localhost:8080"),
        ("https://Example.com:443/inbox", "example.com"),
    ]:
        headers = sign_cavage(
            "POST", url, {}, BODY, key_id=ACTOR_KEY_ID, private_key=rsa_key, now=NOW
        )
        assert headers["Host"] == host
        verify_url("POST", url, headers, BODY, rsa_key.public_key())


RFC9421_CASES: list[tuple[str, Algorithm | None]] = [
    ("rsa", None),
    ("rsa", "rsa-pss-sha512"),
    ("ec", None),
    ("ed25519", None),
]


@pytest.mark.parametrize(("kind", "algorithm"), RFC9421_CASES)
@pytest.mark.parametrize(
    ("method", "url", "body"),
    [("POST", INBOX, BODY), ("GET", OUTBOX_PAGE, b"")],
)
def test_rfc9421_round_trip(
    kind: str,
    algorithm: Algorithm | None,
    method: str,
    url: str,
    body: bytes,
    rsa_key: rsa.RSAPrivateKey,
    ed25519_key: ed25519.Ed25519PrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    keys: dict[str, PrivateKey] = {"rsa": rsa_key, "ec": ec_key, "ed25519": ed25519_key}
    key = keys[kind]
    headers = sign_rfc9421(
        method,
        url,
        JSON_TYPE,
        body,
        key_id=ACTOR_KEY_ID,
        private_key=key,
        now=NOW,
        algorithm=algorithm,
    )
    signed = verify_url(method, url, {**JSON_TYPE, **headers}, body, key.public_key())
    assert signed.scheme == "rfc9421"
    assert signed.label == "sig1"
    assert signed.created == NOW
    default = {
        "rsa": "rsa-v1_5-sha256",
        "ec": "ecdsa-p256-sha256",
        "ed25519": "ed25519",
    }
    assert signed.algorithm == (algorithm or default[kind])
    if method == "POST":
        assert headers["Content-Digest"] == content_digest_header(body)
        assert signed.covered == (
            "@method",
            "@target-uri",
            "content-digest",
            "content-type",
        )
    else:
        assert "Content-Digest" not in headers
        assert signed.covered == ("@method", "@target-uri")


def test_rfc9421_header_shape(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    headers = sign_rfc9421(
        "POST",
        INBOX,
        {},
        BODY,
        key_id=ACTOR_KEY_ID,
        private_key=ed25519_key,
        now=NOW,
        label="fed",
    )
    assert headers["Signature-Input"] == (
        'fed=("@method" "@target-uri" "content-digest");'
        f'created={int(NOW.timestamp())};keyid="{ACTOR_KEY_ID}";alg="ed25519"'
    )
    assert headers["Signature"].startswith("fed=:")
    assert headers["Content-Digest"].startswith("sha-256=:")


def test_round_trip_inside_window_edges(rsa_key: rsa.RSAPrivateKey) -> None:
    """3,900 s old and 3,600 s ahead are still accepted (Mastodon's window)."""
    headers = sign_cavage(
        "POST", INBOX, {}, BODY, key_id=ACTOR_KEY_ID, private_key=rsa_key, now=NOW
    )
    for offset in (timedelta(seconds=3900), timedelta(seconds=-3600)):
        verify_url("POST", INBOX, headers, BODY, rsa_key.public_key(), now=NOW + offset)


def test_signing_mistakes_are_value_errors(
    rsa_key: rsa.RSAPrivateKey,
    ed25519_key: ed25519.Ed25519PrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    """Our own bad input is a bug (ValueError), never a 4xx FedError."""
    naive = NOW.replace(tzinfo=None)
    common = {"key_id": ACTOR_KEY_ID, "now": NOW}
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_cavage("GET", INBOX, {}, b"", key_id="k", private_key=rsa_key, now=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_rfc9421("GET", INBOX, {}, b"", key_id="k", private_key=rsa_key, now=naive)
    with pytest.raises(ValueError, match="EC key is not supported"):
        sign_cavage("GET", INBOX, {}, b"", private_key=ec_key, **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot be quoted"):
        sign_cavage("GET", INBOX, {}, b"", key_id='a"b', private_key=rsa_key, now=NOW)
    with pytest.raises(ValueError, match="'accept' to sign is not in headers"):
        sign_cavage(
            "GET",
            INBOX,
            {},
            b"",
            private_key=rsa_key,
            extra_signed=["accept"],
            **common,  # type: ignore[arg-type]
        )
    with pytest.raises(ValueError, match="does not match the Ed25519 key"):
        sign_rfc9421(
            "GET",
            INBOX,
            {},
            b"",
            private_key=ed25519_key,
            algorithm="rsa-pss-sha512",
            **common,  # type: ignore[arg-type]
        )
    with pytest.raises(ValueError, match="not an absolute http"):
        sign_cavage("GET", "/inbox", {}, b"", private_key=rsa_key, **common)  # type: ignore[arg-type]
