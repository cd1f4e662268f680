"""draft-cavage: every way a request must fail, and the peer quirks that must pass."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from fedserver.errors import BadRequest, SignatureInvalid, SignatureMalformed
from fedserver.signatures import (
    digest_header,
    format_http_date,
    sign_cavage,
)
from tests.fedserver.signatures.helpers import (
    ACTOR_KEY_ID,
    INBOX,
    NOW,
    bob_private,
    bob_public,
    handmade_cavage,
    verify_url,
)

BODY = b'{"type": "Create"}'
DATE = format_http_date(NOW)
POST_TARGET = "post /users/alice/inbox"


def signed_post(key: rsa.RSAPrivateKey | None = None) -> dict[str, str]:
    return sign_cavage(
        "POST",
        INBOX,
        {},
        BODY,
        key_id=ACTOR_KEY_ID,
        private_key=key or bob_private(),
        now=NOW,
    )


def fails(
    message: str,
    headers: dict[str, str] | list[tuple[str, str]],
    *,
    method: str = "POST",
    url: str = INBOX,
    body: bytes = BODY,
    error: type[Exception] = SignatureInvalid,
    **kwargs: object,
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        verify_url(method, url, headers, body, bob_public(), **kwargs)  # type: ignore[arg-type]


def test_body_changed() -> None:
    fails("Digest does not match body", signed_post(), body=b'{"type": "Delete"}')


def test_digest_header_replaced_to_match_new_body() -> None:
    """Swapping body and Digest together breaks the signature over the digest."""
    headers = {**signed_post(), "Digest": digest_header(b"{}")}
    fails("signature does not verify", headers, body=b"{}")


def test_date_two_hours_old() -> None:
    fails(
        "date is 7,200 s old (max 3,900 s)",
        signed_post(),
        now=NOW + timedelta(hours=2),
    )


def test_date_one_second_past_the_window() -> None:
    fails(
        "date is 3,901 s old (max 3,900 s)",
        signed_post(),
        now=NOW + timedelta(seconds=3901),
    )


def test_date_two_hours_in_the_future() -> None:
    fails(
        "date is 7,200 s in the future (max 3,600 s)",
        signed_post(),
        now=NOW - timedelta(hours=2),
    )


def test_digest_not_among_signed_headers_on_post() -> None:
    header = handmade_cavage(
        bob_private(),
        [("(request-target)", POST_TARGET), ("host", "example.com"), ("date", DATE)],
    )
    headers = {"Date": DATE, "Digest": digest_header(BODY), "Signature": header}
    fails("signed headers must include 'digest' on POST", headers)


@pytest.mark.parametrize("missing", ["(request-target)", "host"])
def test_post_must_sign_request_target_and_host(missing: str) -> None:
    """SECURITY.md R1: a POST signature binds target, host, date and digest."""
    lines = [
        ("(request-target)", POST_TARGET),
        ("host", "example.com"),
        ("date", DATE),
        ("digest", digest_header(BODY)),
    ]
    header = handmade_cavage(bob_private(), [x for x in lines if x[0] != missing])
    headers = {"Date": DATE, "Digest": digest_header(BODY), "Signature": header}
    fails(f"signed headers must include '{missing}' on POST", headers)


def test_get_must_sign_host() -> None:
    header = handmade_cavage(
        bob_private(),
        [("(request-target)", "get /users/alice/inbox"), ("date", DATE)],
    )
    fails(
        "signed headers must include 'host' on GET",
        {"Date": DATE, "Signature": header},
        method="GET",
        body=b"",
    )


def test_date_or_created_required() -> None:
    header = handmade_cavage(
        bob_private(),
        [("(request-target)", "get /users/alice/inbox"), ("host", "example.com")],
    )
    fails(
        "signed headers must include 'date' or '(created)'",
        {"Signature": header},
        method="GET",
        body=b"",
    )


def test_path_changed() -> None:
    fails(
        "signature does not verify",
        signed_post(),
        url="https://example.com/users/mallory/inbox",
    )


def test_method_changed() -> None:
    headers = sign_cavage(
        "GET", INBOX, {}, b"", key_id=ACTOR_KEY_ID, private_key=bob_private(), now=NOW
    )
    fails("signature does not verify", headers, method="DELETE", body=b"")
    fails("signed headers must include 'digest' on POST", headers, body=b"")


def test_host_changed() -> None:
    """A signature for another server does not verify here, whatever Host says."""
    headers = sign_cavage(
        "POST",
        "https://other.example/users/alice/inbox",
        {},
        BODY,
        key_id=ACTOR_KEY_ID,
        private_key=bob_private(),
        now=NOW,
    )
    headers["Host"] = "example.com"
    fails("signature does not verify", headers)


def test_host_header_is_ignored_in_favour_of_ours() -> None:
    """R1: we sign our configured host, so a forged Host header changes nothing."""
    headers = {**signed_post(), "Host": "evil.example"}
    verify_url("POST", INBOX, headers, BODY, bob_public())


def test_unsigned() -> None:
    fails("request is not signed", {"Date": DATE, "Digest": digest_header(BODY)})


@pytest.mark.parametrize("name", ["Signature", "Date", "Digest", "Host"])
def test_duplicate_header(name: str) -> None:
    headers = signed_post()
    headers.setdefault("Host", "example.com")
    items = [*headers.items(), (name.lower(), headers[name])]
    fails(f"request has 2 '{name.lower()}' headers (at most one allowed)", items)


def test_unsupported_algorithm() -> None:
    header = signed_post()["Signature"].replace("rsa-sha256", "hmac-sha256")
    fails(
        "algorithm 'hmac-sha256' not supported",
        {**signed_post(), "Signature": header},
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("garbage", "Signature header is malformed at character 1"),
        ('keyId="a" signature="b"', "expected ','"),
        ('keyId="a",keyId="b",signature="AAAA"', "repeats parameter 'keyid'"),
        ('algorithm="rsa-sha256",signature="AAAA"', "has no keyId"),
        ('keyId="a",algorithm="rsa-sha256"', "has no signature"),
        ('keyId="a",signature="not base64!"', "signature is not valid base64"),
        ('keyId="a",signature="AAA"', "signature is not valid base64"),
        ('keyId="a",headers="date date",signature="AAAA"', "repeats a name"),
        ('keyId="a",headers="",signature="AAAA"', "is malformed"),
        ('keyId="a",created=soon,signature="AAAA"', "created parameter 'soon'"),
        ('keyId="a,signature="AAAA"', "malformed"),
    ],
)
def test_garbage_signature_header(value: str, message: str) -> None:
    fails(message, {"Date": DATE, "Signature": value}, error=SignatureMalformed)


def test_wrong_key(other_rsa_key: rsa.RSAPrivateKey) -> None:
    fails("signature does not verify", signed_post(other_rsa_key))


def test_rsa_sha256_with_ed25519_key(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    headers = signed_post()
    with pytest.raises(SignatureInvalid, match="'rsa-sha256' needs an RSA key"):
        verify_url("POST", INBOX, headers, BODY, ed25519_key.public_key())


def test_signed_header_missing() -> None:
    lines = [
        ("(request-target)", POST_TARGET),
        ("host", "example.com"),
        ("date", DATE),
        ("digest", digest_header(BODY)),
        ("content-type", "application/activity+json"),
    ]
    headers = {
        "Date": DATE,
        "Digest": digest_header(BODY),
        "Signature": handmade_cavage(bob_private(), lines),
    }
    fails("header 'content-type' is listed as signed but missing", headers)


def test_created_with_rsa_sha256_refused() -> None:
    header = handmade_cavage(
        bob_private(),
        [
            ("(request-target)", POST_TARGET),
            ("host", "example.com"),
            ("(created)", str(int(NOW.timestamp()))),
            ("digest", digest_header(BODY)),
        ],
        extra=f"created={int(NOW.timestamp())},",
    )
    fails(
        "'(created)' cannot be signed with algorithm 'rsa-sha256'",
        {"Digest": digest_header(BODY), "Signature": header},
    )


def hs2019_created(
    key: ed25519.Ed25519PrivateKey, created: int, expires: int | None
) -> dict[str, str]:
    lines = [
        ("(request-target)", POST_TARGET),
        ("host", "example.com"),
        ("(created)", str(created)),
        ("digest", digest_header(BODY)),
    ]
    extra = f"created={created},"
    if expires is not None:
        lines.append(("(expires)", str(expires)))
        extra += f"expires={expires},"
    header = handmade_cavage(key, lines, algorithm="hs2019", extra=extra)
    return {"Digest": digest_header(BODY), "Signature": header}


def test_created_window(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    """(created) without (expires): 5 min + 1 h skew, like a Date."""
    created = int(NOW.timestamp())
    headers = hs2019_created(ed25519_key, created, None)
    key = ed25519_key.public_key()
    verify_url("POST", INBOX, headers, BODY, key, now=NOW + timedelta(seconds=3900))
    with pytest.raises(SignatureInvalid, match=r"created is 3,960 s old \(max 3,900"):
        verify_url("POST", INBOX, headers, BODY, key, now=NOW + timedelta(seconds=3960))


def test_explicit_expires_extends_window_up_to_12_hours(
    ed25519_key: ed25519.Ed25519PrivateKey,
) -> None:
    """An explicit (expires) is honoured, capped at created + 12 h (+ 1 h skew)."""
    created = int(NOW.timestamp())
    key = ed25519_key.public_key()
    headers = hs2019_created(ed25519_key, created, created + 6 * 3600)
    verify_url("POST", INBOX, headers, BODY, key, now=NOW + timedelta(hours=7))
    with pytest.raises(SignatureInvalid, match=r"created is 25,201 s old \(max 25,200"):
        verify_url("POST", INBOX, headers, BODY, key, now=NOW + timedelta(seconds=25201))
    capped = hs2019_created(ed25519_key, created, created + 48 * 3600)
    verify_url("POST", INBOX, capped, BODY, key, now=NOW + timedelta(hours=13))
    with pytest.raises(SignatureInvalid, match=r"\(max 46,800 s\)"):
        verify_url("POST", INBOX, capped, BODY, key, now=NOW + timedelta(hours=14))


def test_unsigned_created_and_expires_parameters_are_ignored() -> None:
    """Only a signed (expires) can widen the window; a bare parameter cannot."""
    lines = [
        ("(request-target)", POST_TARGET),
        ("host", "example.com"),
        ("date", DATE),
        ("digest", digest_header(BODY)),
    ]
    later = int((NOW + timedelta(hours=11)).timestamp())
    header = handmade_cavage(bob_private(), lines, algorithm="hs2019", extra=f"expires={later},")
    headers = {"Date": DATE, "Digest": digest_header(BODY), "Signature": header}
    fails("date is 7,200 s old", headers, now=NOW + timedelta(hours=2))


def test_expires_before_created_refused(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    created = int(NOW.timestamp())
    headers = hs2019_created(ed25519_key, created, created - 1)
    with pytest.raises(SignatureInvalid, match="expires before it was created"):
        verify_url("POST", INBOX, headers, BODY, ed25519_key.public_key())


def test_lowercase_digest_accepted_bovine_style() -> None:
    """bovine: lowercase `sha-256=`, `#serverKey`, content-type signed."""
    digest = "sha-256=" + digest_header(BODY).split("=", 1)[1]
    lines = [
        ("(request-target)", POST_TARGET),
        ("host", "example.com"),
        ("date", DATE),
        ("digest", digest),
        ("content-type", "application/activity+json"),
    ]
    key_id = "https://remote.example/users/bob#serverKey"
    headers = {
        "Date": DATE,
        "Digest": digest,
        "Content-Type": "application/activity+json",
        "Signature": handmade_cavage(bob_private(), lines, key_id=key_id),
    }
    assert verify_url("POST", INBOX, headers, BODY, bob_public()).key_id == key_id


def test_gotosocial_style_hs2019_key_id_without_fragment() -> None:
    """GoToSocial: hs2019, keyId a separate URL (no fragment), Digest signed."""
    key_id = "https://remote.example/users/bob/main-key"
    lines = [
        ("(request-target)", POST_TARGET),
        ("host", "example.com"),
        ("date", DATE),
        ("digest", digest_header(BODY)),
    ]
    header = handmade_cavage(bob_private(), lines, key_id=key_id, algorithm="hs2019")
    headers = {"Date": DATE, "Digest": digest_header(BODY), "Signature": header}
    signed = verify_url("POST", INBOX, headers, BODY, bob_public())
    assert (signed.key_id, signed.algorithm) == (key_id, "hs2019")


def test_gotosocial_get_retry_without_query() -> None:
    """GoToSocial retries a GET with the query left out of (request-target)."""
    lines = [
        ("(request-target)", "get /users/alice/outbox"),
        ("host", "example.com"),
        ("date", DATE),
    ]
    header = handmade_cavage(bob_private(), lines, algorithm="hs2019")
    verify_url(
        "GET",
        "https://example.com/users/alice/outbox?page=true",
        {"Date": DATE, "Signature": header},
        b"",
        bob_public(),
    )


def test_missing_algorithm_means_key_type(
    ed25519_key: ed25519.Ed25519PrivateKey,
) -> None:
    lines = [
        ("(request-target)", "get /users/alice"),
        ("host", "example.com"),
        ("date", DATE),
    ]
    for key in (bob_private(), ed25519_key):
        header = handmade_cavage(key, lines, algorithm=None)
        verify_url(
            "GET",
            "https://example.com/users/alice",
            {"Date": DATE, "Signature": header},
            b"",
            key.public_key(),
        )


def test_default_headers_is_date_only() -> None:
    """No headers= means `date` (Mastodon, drafts <= 10): too little coverage here."""
    text = f"date: {DATE}".encode()
    raw = bob_private().sign(text, padding.PKCS1v15(), hashes.SHA256())
    header = f'keyId="{ACTOR_KEY_ID}",signature="{base64.b64encode(raw).decode()}"'
    fails(
        "signed headers must include '(request-target)' or 'digest'",
        {"Date": DATE, "Signature": header},
        method="GET",
        body=b"",
    )


def test_authorization_signature_header_accepted() -> None:
    headers = signed_post()
    headers["Authorization"] = "Signature " + headers.pop("Signature")
    verify_url("POST", INBOX, headers, BODY, bob_public())


def test_signature_and_authorization_together_refused() -> None:
    headers = signed_post()
    headers["Authorization"] = "Signature " + headers["Signature"]
    fails("both a Signature header and an Authorization signature", headers)


def test_content_digest_checked_on_cavage_request() -> None:
    headers = {**signed_post(), "Content-Digest": "sha-256=:AAAA:"}
    fails("Content-Digest does not match body", headers)


@pytest.mark.parametrize(
    ("digest", "error", "message"),
    [
        ("MD5=Sd/dVLAcvNLSq16eXua5uQ==", SignatureInvalid, "no supported algorithm"),
        ("SHA-256", BadRequest, "Digest header is malformed"),
        ("SHA-256=***", BadRequest, "Digest header SHA-256 value is not base64"),
    ],
)
def test_bad_digest_header(digest: str, error: type[Exception], message: str) -> None:
    headers = {**signed_post(), "Digest": digest}
    fails(message, headers, error=error)


def test_sha512_digest_accepted() -> None:
    digest = digest_header(BODY, "sha-512")
    lines = [
        ("(request-target)", POST_TARGET),
        ("host", "example.com"),
        ("date", DATE),
        ("digest", digest),
    ]
    headers = {
        "Date": DATE,
        "Digest": digest,
        "Signature": handmade_cavage(bob_private(), lines),
    }
    verify_url("POST", INBOX, headers, BODY, bob_public())


def test_created_out_of_datetime_range(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    headers = hs2019_created(ed25519_key, 999_999_999_999_999, None)
    with pytest.raises(SignatureInvalid, match="created 999999999999999 is not"):
        verify_url("POST", INBOX, headers, BODY, ed25519_key.public_key())
