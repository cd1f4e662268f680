"""RFC 9421: every way a request must fail, and how several signatures are chosen."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from fedserver.errors import BadRequest, SignatureInvalid, SignatureMalformed
from fedserver.signatures import content_digest_header, sign_rfc9421
from fedserver.signatures.algorithms import Algorithm, sign_bytes
from fedserver.signatures.rfc9421 import Message, signature_base
from fedserver.signatures.structured import InnerList, Item, parse_dictionary
from tests.fedserver.signatures.helpers import (
    ACTOR_KEY_ID,
    INBOX,
    NOW,
    verify_url,
)

BODY = b'{"type": "Create"}'
CREATED = int(NOW.timestamp())


def signed_post(key: ed25519.Ed25519PrivateKey) -> dict[str, str]:
    return sign_rfc9421("POST", INBOX, {}, BODY, key_id=ACTOR_KEY_ID, private_key=key, now=NOW)


def handmade(
    key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey,
    components: list[str],
    params: str,
    *,
    method: str = "POST",
    url: str = INBOX,
    fields: dict[str, list[str]] | None = None,
    label: str = "sig1",
) -> dict[str, str]:
    """Signature-Input/Signature built from raw text and our base builder."""
    listed = " ".join(f'"{c}"' for c in components)
    signature_input = f"{label}=({listed}){params}"
    inner = parse_dictionary(signature_input)[label]
    assert isinstance(inner, InnerList)
    path = url.removeprefix("https://example.com")
    message = Message(
        fields=fields or {"content-digest": [content_digest_header(BODY)]},
        method=method,
        target_uri=url,
        authority="example.com",
        path_with_query=path,
    )
    alg: Algorithm = "ed25519" if isinstance(key, ed25519.Ed25519PrivateKey) else "rsa-v1_5-sha256"
    raw = sign_bytes(alg, key, signature_base(inner, message))
    headers = {
        "Signature-Input": signature_input,
        "Signature": f"{label}=:{base64.b64encode(raw).decode()}:",
    }
    if "content-digest" in components:
        headers["Content-Digest"] = content_digest_header(BODY)
    return headers


def fails(
    message: str,
    headers: dict[str, str] | list[tuple[str, str]],
    key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey,
    *,
    method: str = "POST",
    url: str = INBOX,
    body: bytes = BODY,
    error: type[Exception] = SignatureInvalid,
    **kwargs: object,
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        verify_url(method, url, headers, body, key.public_key(), **kwargs)  # type: ignore[arg-type]


PARAMS = f';created={CREATED};keyid="{ACTOR_KEY_ID}"'


def test_body_changed(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    fails(
        "Content-Digest does not match body",
        signed_post(ed25519_key),
        ed25519_key,
        body=b"{}",
    )


def test_created_two_hours_old(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    fails(
        "created is 7,200 s old (max 3,900 s)",
        signed_post(ed25519_key),
        ed25519_key,
        now=NOW + timedelta(hours=2),
    )


def test_created_two_hours_in_the_future(
    ed25519_key: ed25519.Ed25519PrivateKey,
) -> None:
    fails(
        "created is 7,200 s in the future (max 3,600 s)",
        signed_post(ed25519_key),
        ed25519_key,
        now=NOW - timedelta(hours=2),
    )


def test_expires_honoured_and_capped(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    components = ["@method", "@target-uri", "content-digest"]
    three_hours = handmade(ed25519_key, components, f"{PARAMS};expires={CREATED + 3 * 3600}")
    key = ed25519_key.public_key()
    verify_url("POST", INBOX, three_hours, BODY, key, now=NOW + timedelta(hours=4))
    two_days = handmade(ed25519_key, components, f"{PARAMS};expires={CREATED + 48 * 3600}")
    verify_url("POST", INBOX, two_days, BODY, key, now=NOW + timedelta(hours=13))
    fails(
        "created is 50,400 s old (max 46,800 s)",
        two_days,
        ed25519_key,
        now=NOW + timedelta(hours=14),
    )


def test_content_digest_not_covered_on_post(
    ed25519_key: ed25519.Ed25519PrivateKey,
) -> None:
    headers = handmade(ed25519_key, ["@method", "@target-uri"], PARAMS)
    fails(
        "signature 'sig1' does not cover 'content-digest' (required on POST)",
        headers,
        ed25519_key,
    )


def test_method_not_covered(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    headers = handmade(ed25519_key, ["@target-uri", "content-digest"], PARAMS)
    fails("signature 'sig1' does not cover '@method'", headers, ed25519_key)


def test_authority_path_query_instead_of_target_uri(
    ed25519_key: ed25519.Ed25519PrivateKey,
) -> None:
    url = "https://example.com/users/alice/outbox?page=true"
    ok = handmade(
        ed25519_key,
        ["@method", "@authority", "@path", "@query"],
        PARAMS,
        method="GET",
        url=url,
        fields={},
    )
    verify_url("GET", url, ok, b"", ed25519_key.public_key())
    no_query = handmade(
        ed25519_key,
        ["@method", "@authority", "@path"],
        PARAMS,
        method="GET",
        url=url,
        fields={},
    )
    fails(
        "does not cover '@query'",
        no_query,
        ed25519_key,
        method="GET",
        url=url,
        body=b"",
    )


def test_path_changed(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    fails(
        "signature does not verify",
        signed_post(ed25519_key),
        ed25519_key,
        url="https://example.com/users/mallory/inbox",
    )


def test_method_changed(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    headers = sign_rfc9421(
        "GET", INBOX, {}, b"", key_id=ACTOR_KEY_ID, private_key=ed25519_key, now=NOW
    )
    fails("signature does not verify", headers, ed25519_key, method="HEAD", body=b"")


def test_unsigned(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    fails("request is not signed", {}, ed25519_key, method="GET", body=b"")


@pytest.mark.parametrize("name", ["Signature-Input", "Signature", "Content-Digest"])
def test_duplicate_header(name: str, ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    headers = signed_post(ed25519_key)
    items = [*headers.items(), (name, headers[name])]
    fails(f"request has 2 '{name.lower()}' headers", items, ed25519_key)


def test_unsupported_algorithm(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    headers = handmade(
        ed25519_key,
        ["@method", "@target-uri", "content-digest"],
        f'{PARAMS};alg="hmac-sha256"',
    )
    fails("algorithm 'hmac-sha256' not supported", headers, ed25519_key)


def test_alg_that_does_not_fit_the_key(
    ed25519_key: ed25519.Ed25519PrivateKey, rsa_key: rsa.RSAPrivateKey
) -> None:
    headers = sign_rfc9421(
        "POST", INBOX, {}, BODY, key_id=ACTOR_KEY_ID, private_key=rsa_key, now=NOW
    )
    fails(
        "algorithm 'rsa-v1_5-sha256' does not match the Ed25519 key",
        headers,
        ed25519_key,
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (f";created={CREATED}", "signature 'sig1' has no keyid parameter"),
        (f';keyid="{ACTOR_KEY_ID}"', "signature 'sig1' has no created parameter"),
        (
            f';created="{CREATED}";keyid="k"',
            "signature 'sig1' created is not an integer",
        ),
        (f";created={CREATED};keyid=k", "signature 'sig1' has no keyid parameter"),
        (f"{PARAMS};expires={CREATED - 1}", "expires before it was created"),
    ],
)
def test_bad_parameters(params: str, message: str, ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    headers = handmade(ed25519_key, ["@method", "@target-uri", "content-digest"], params)
    fails(message, headers, ed25519_key)


@pytest.mark.parametrize(
    ("signature_input", "signature"),
    [
        ("sig1=(", "sig1=:AAAA:"),
        ('sig1="@method"', "sig1=:AAAA:"),
        ('sig1=("@method");created=1', "sig1=AAAA"),
        ('sig1=("@method"), sig1=("@path")', "sig1=:AAAA:"),
        ('Sig1=("@method")', "Sig1=:AAAA:"),
        ('sig1=("@method" "@path"', "sig1=:AAAA:"),
        ('sig1=("@method")', "sig1=:AA*A:"),
    ],
)
def test_garbage_headers(
    signature_input: str, signature: str, ed25519_key: ed25519.Ed25519PrivateKey
) -> None:
    headers = {"Signature-Input": signature_input, "Signature": signature}
    with pytest.raises(SignatureMalformed):
        verify_url("GET", INBOX, headers, b"", ed25519_key.public_key())


def test_label_without_signature(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    headers = {**signed_post(ed25519_key), "Signature": "other=:AAAA:"}
    fails("no Signature-Input member has a matching Signature", headers, ed25519_key)


def test_component_parameters_refused(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    signature_input = 'sig1=("@method" "@target-uri" "content-digest" "accept";bs)' + PARAMS
    headers = {**signed_post(ed25519_key), "Signature-Input": signature_input}
    fails('component parameters "accept";bs not supported', headers, ed25519_key)


def test_covered_header_missing(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    signature_input = 'sig1=("@method" "@target-uri" "content-digest" "content-type")' + PARAMS
    headers = {**signed_post(ed25519_key), "Signature-Input": signature_input}
    fails(
        'covered component "content-type" is missing from the request',
        headers,
        ed25519_key,
    )


def test_status_is_not_a_request_component(
    ed25519_key: ed25519.Ed25519PrivateKey,
) -> None:
    signature_input = 'sig1=("@method" "@target-uri" "content-digest" "@status")'
    headers = {**signed_post(ed25519_key), "Signature-Input": signature_input + PARAMS}
    fails('covered component "@status" is missing', headers, ed25519_key)


def test_component_covered_twice(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    signature_input = 'sig1=("@method" "@target-uri" "content-digest" "@method")'
    headers = {**signed_post(ed25519_key), "Signature-Input": signature_input + PARAMS}
    fails('component "@method" is covered twice', headers, ed25519_key)


def test_malformed_content_digest_is_400(
    ed25519_key: ed25519.Ed25519PrivateKey,
) -> None:
    headers = {**signed_post(ed25519_key), "Content-Digest": "SHA-256=:AAAA:"}
    with pytest.raises(BadRequest, match="not a valid structured-field dictionary"):
        verify_url("POST", INBOX, headers, BODY, ed25519_key.public_key())


def test_wrong_key(ed25519_key: ed25519.Ed25519PrivateKey, rsa_key: rsa.RSAPrivateKey) -> None:
    other = ed25519.Ed25519PrivateKey.generate()
    fails("signature does not verify", signed_post(other), ed25519_key)


def test_first_signature_meeting_the_rules_is_verified(
    ed25519_key: ed25519.Ed25519PrivateKey,
) -> None:
    """sig1 lacks content-digest, so sig2 (valid) is the one verified."""
    weak = handmade(ed25519_key, ["@method", "@target-uri"], PARAMS, label="sig1")
    strong = handmade(
        ed25519_key, ["@method", "@target-uri", "content-digest"], PARAMS, label="sig2"
    )
    headers = {
        "Content-Digest": strong["Content-Digest"],
        "Signature-Input": f"{weak['Signature-Input']}, {strong['Signature-Input']}",
        "Signature": f"{weak['Signature']}, {strong['Signature']}",
    }
    signed = verify_url("POST", INBOX, headers, BODY, ed25519_key.public_key())
    assert signed.label == "sig2"


def test_rsa_without_alg_may_be_pss(rsa_key: rsa.RSAPrivateKey) -> None:
    """No alg + RSA key: v1.5 is tried, then PSS (RFC 9421 B.2.3 style)."""
    components = '("@method" "@target-uri" "content-digest")'
    signature_input = f"sig1={components}{PARAMS}"
    inner = parse_dictionary(signature_input)["sig1"]
    assert isinstance(inner, InnerList)
    message = Message(
        fields={"content-digest": [content_digest_header(BODY)]},
        method="POST",
        target_uri=INBOX,
        authority="example.com",
        path_with_query="/users/alice/inbox",
    )
    raw = sign_bytes("rsa-pss-sha512", rsa_key, signature_base(inner, message))
    headers = {
        "Content-Digest": content_digest_header(BODY),
        "Signature-Input": signature_input,
        "Signature": f"sig1=:{base64.b64encode(raw).decode()}:",
    }
    verify_url("POST", INBOX, headers, BODY, rsa_key.public_key())


def test_query_param_component() -> None:
    """@query-param re-encodes the decoded value (RFC 9421 2.2.8)."""
    message = Message(path_with_query="/p?a=b%20c&d=e+f&x")
    for name, value in [("a", "b%20c"), ("d", "e%20f"), ("x", "")]:
        item = Item("@query-param", {"name": name})
        base = signature_base(InnerList((item,)), message).decode()
        assert base.startswith(f'"@query-param";name="{name}": {value}\n')


def test_created_out_of_datetime_range(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    """A 15-digit created is a valid sf-integer but no datetime: 401, not a crash."""
    headers = handmade(
        ed25519_key,
        ["@method", "@target-uri", "content-digest"],
        f';created=999999999999999;keyid="{ACTOR_KEY_ID}"',
    )
    fails("created 999999999999999 is not a valid time", headers, ed25519_key)
