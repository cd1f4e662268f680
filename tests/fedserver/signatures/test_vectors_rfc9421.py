"""RFC 9421 vectors: Appendix B (and the 4.3 proxy example) and Mastodon's spec.

Known defect (tests/vectors/SOURCES.md, the RFC 9421 B.2.4 erratum): the printed
test-response carries `Content-Digest: sha-512=:JlEy2...:`, but the real SHA-512
of its body, and the value inside B.2.4's signature base, is `sha-512=:mEWXIS7...:`.
We show the printed header fails the digest check, and verify B.2.4 over the
response with its digest recomputed from the body.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from fedserver.errors import BadRequest, SignatureInvalid
from fedserver.signatures import (
    SignedRequest,
    check_content_digest,
    content_digest_header,
    parse_request_signature,
    verify_request,
    verify_signed_request,
)
from fedserver.signatures.algorithms import Algorithm, sign_bytes, verify_bytes
from fedserver.signatures.rfc9421 import Message, parse_signatures, signature_base
from fedserver.signatures.timing import parse_http_date
from tests.fedserver.signatures.helpers import (
    MASTODON_NOW,
    bob_public,
    load_json,
    private_key,
    public_key,
)

APPENDIX_B = load_json("rfc9421/rfc9421-appendix-b.json")
MASTODON = load_json("mastodon/mastodon-rfc9421-spec.json")


def parse_http(text: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """(start line, header pairs, body) of an HTTP/1.1 message as printed."""
    head, _, body = text.partition("\n\n")
    start, *lines = head.split("\n")
    pairs = [(n, v.strip()) for n, _, v in (line.partition(":") for line in lines)]
    return start, pairs, body.lstrip("\n").encode()


def fields_of(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        fields.setdefault(name.lower(), []).append(value)
    return fields


def request_message(text: str) -> Message:
    start, pairs, _ = parse_http(text)
    method, target, _ = start.split(" ")
    host = fields_of(pairs)["host"][0]
    return Message(
        fields=fields_of(pairs),
        method=method,
        target_uri=f"https://{host}{target}",
        authority=host,
        path_with_query=target,
    )


def response_message(text: str) -> Message:
    start, pairs, _ = parse_http(text)
    return Message(fields=fields_of(pairs), status=int(start.split(" ")[1]))


def key_files(case: dict[str, Any]) -> tuple[str, str]:
    files = APPENDIX_B["keys"][case["keyid"]]
    return "rfc9421/" + files["public_pem_file"], "rfc9421/" + files["private_pem_file"]


def case_message(case: dict[str, Any]) -> Message:
    if case["message"] == "test-request":
        return request_message(APPENDIX_B["test_request"])
    if case["message"] == "test-response":
        return response_message(APPENDIX_B["test_response"])
    return request_message(case["http_message"])


def case_signature(case: dict[str, Any]) -> tuple[Any, bytes]:
    """The case's inner list and signature bytes, via our header parser."""
    if "http_message" in case:
        _, pairs, _ = parse_http(case["http_message"])
        fields = {name: value for name, value in pairs}
        pairs_found = parse_signatures(fields["Signature-Input"], fields["Signature"])
    else:
        pairs_found = parse_signatures(case["signature_input"], case["signature"])
    for label, inner, signature in pairs_found:
        if label == case["label"]:
            return inner, signature
    raise AssertionError(f"label {case['label']} not found")


ASYMMETRIC = [c for c in APPENDIX_B["cases"] if c["alg"] != "hmac-sha256"]


@pytest.mark.parametrize("case", ASYMMETRIC, ids=lambda c: c["id"])
def test_appendix_b_signature_base_and_signature(case: dict[str, Any]) -> None:
    """We rebuild each signature base byte for byte and the signature verifies.

    B.2.4 is built from the response with its digest recomputed (the erratum).
    """
    message = case_message(case)
    if case["id"] == "B.2.4":
        _, _, body = parse_http(APPENDIX_B["test_response"])
        fixed = dict(message.fields)
        fixed["content-digest"] = [content_digest_header(body, "sha-512")]
        message = Message(fields=fixed, status=message.status)
    inner, signature = case_signature(case)
    base = signature_base(inner, message)
    assert base.decode() == case["signature_base"]
    public_file, _ = key_files(case)
    assert verify_bytes(case["alg"], public_key(public_file), signature, base)


@pytest.mark.parametrize(
    "case", [c for c in ASYMMETRIC if c["deterministic"]], ids=lambda c: c["id"]
)
def test_appendix_b_deterministic_signatures_are_reproduced(
    case: dict[str, Any],
) -> None:
    """Ed25519 and RSA v1.5 are deterministic: our signer yields the RFC's bytes."""
    _, private_file = key_files(case)
    _, signature = case_signature(case)
    alg: Algorithm = case["alg"]
    ours = sign_bytes(alg, private_key(private_file), case["signature_base"].encode())
    assert ours == signature


def test_b24_printed_content_digest_is_the_erratum() -> None:
    """The printed response digest does not match its body; the signed one does."""
    _, pairs, body = parse_http(APPENDIX_B["test_response"])
    printed = fields_of(pairs)["content-digest"][0]
    with pytest.raises(SignatureInvalid, match="Content-Digest does not match body"):
        check_content_digest(printed, body)
    assert content_digest_header(body, "sha-512").startswith("sha-512=:mEWXIS7")
    case = next(c for c in APPENDIX_B["cases"] if c["id"] == "B.2.4")
    inner, signature = case_signature(case)
    as_printed = signature_base(inner, response_message(APPENDIX_B["test_response"]))
    assert as_printed != case["signature_base"].encode()
    public_file, _ = key_files(case)
    assert not verify_bytes(case["alg"], public_key(public_file), signature, as_printed)


def test_b23_verifies_end_to_end() -> None:
    """B.2.3 meets our POST rules (method, path, query, authority, digest)."""
    _, pairs, body = parse_http(APPENDIX_B["test_request"])
    case = next(c for c in APPENDIX_B["cases"] if c["id"] == "B.2.3")
    headers = [
        *pairs,
        ("Signature-Input", case["signature_input"]),
        ("Signature", case["signature"]),
    ]
    signed = verify_request(
        "POST",
        "/foo?param=Value&Pet=dog",
        headers,
        body,
        host="example.com",
        target_uri="https://example.com/foo?param=Value&Pet=dog",
        public_key=public_key("rfc9421/test-key-rsa-pss.pub.pem"),
        now=parse_http_date("Tue, 20 Apr 2021 02:07:55 GMT"),
    )
    assert signed.label == "sig-b23"
    assert signed.algorithm is None  # no alg: an RSA key is tried as v1.5, then PSS


def test_b25_hmac_is_refused() -> None:
    """B.2.5 (HMAC): it misses @method, and a shared secret is no key we accept."""
    case = next(c for c in APPENDIX_B["cases"] if c["id"] == "B.2.5")
    _, pairs, body = parse_http(APPENDIX_B["test_request"])
    headers = [
        *pairs,
        ("Signature-Input", case["signature_input"]),
        ("Signature", case["signature"]),
    ]
    with pytest.raises(SignatureInvalid, match="does not cover '@method'"):
        parse_request_signature(
            "POST",
            "/foo?param=Value&Pet=dog",
            headers,
            body,
            host="example.com",
            target_uri="https://example.com/foo?param=Value&Pet=dog",
        )
    inner, signature = case_signature(case)
    signed = SignedRequest(
        scheme="rfc9421",
        key_id="test-shared-secret",
        algorithm=None,
        covered=(),
        created=parse_http_date("Tue, 20 Apr 2021 02:07:53 GMT"),
        expires=None,
        date=None,
        signature=signature,
        messages=(signature_base(inner, case_message(case)),),
    )
    secret = base64.b64decode(APPENDIX_B["keys"]["test-shared-secret"]["base64"])
    with pytest.raises(SignatureInvalid, match="key type bytes not supported"):
        verify_signed_request(
            signed,
            secret,  # type: ignore[arg-type]
            now=parse_http_date("Tue, 20 Apr 2021 02:07:55 GMT"),
        )


def test_b4_transform_without_query_coverage_is_refused() -> None:
    """B.4 covers @path but not @query, and its request has a query string."""
    case = next(c for c in APPENDIX_B["cases"] if c["id"] == "B.4-transform")
    _, pairs, body = parse_http(case["http_message"])
    with pytest.raises(SignatureInvalid, match="does not cover '@query'"):
        parse_request_signature(
            "GET",
            "/demo?name1=Value1&Name2=value2",
            pairs,
            body,
            host="example.org",
            target_uri="https://example.org/demo?name1=Value1&Name2=value2",
        )


def test_proxy_example_reports_the_first_signature_failure() -> None:
    """4.3: neither sig1 nor proxy_sig covers @query, so the first reason is raised.

    (proxy_sig's base and signature are checked in the appendix test above.)
    """
    case = next(c for c in APPENDIX_B["cases"] if c["id"] == "4.3-proxy_sig")
    _, pairs, body = parse_http(case["http_message"])
    with pytest.raises(SignatureInvalid, match="signature 'sig1' does not cover"):
        parse_request_signature(
            "POST",
            "/foo?param=Value&Pet=dog",
            pairs,
            body,
            host="origin.host.internal.example",
            target_uri="https://origin.host.internal.example/foo?param=Value&Pet=dog",
        )


def mastodon_verify(case: dict[str, Any]) -> None:
    path = case["url"].removeprefix("https://www.example.com")
    verify_request(
        case["method"],
        path,
        list(case["headers"].items()),
        case["body"].encode(),
        host="www.example.com",
        target_uri=case["url"],
        public_key=bob_public(),
        now=MASTODON_NOW,
    )


MASTODON_REJECTIONS: dict[str, tuple[type[Exception], str]] = {
    "rfc-get-query-mismatch": (SignatureInvalid, "signature does not verify"),
    "rfc-get-path-mismatch": (SignatureInvalid, "signature does not verify"),
    "rfc-method-mismatch": (
        SignatureInvalid,
        "signature 'sig1' does not cover 'content-digest' (required on POST)",
    ),
    "rfc-older-than-a-day": (
        SignatureInvalid,
        "created is 172,800 s old (max 3,900 s)",
    ),
    "rfc-post-digest-not-signed": (
        SignatureInvalid,
        "signature 'sig1' does not cover 'content-digest' (required on POST)",
    ),
    "rfc-post-tampered-body": (
        SignatureInvalid,
        "Content-Digest does not match body: computed SHA-256 "
        "wFNeS+K3n/2TKRMFQ2v4iTFOSj+uwF7P/Lt98xrZ5Ro=",
    ),
    "rfc-post-tampered-path": (SignatureInvalid, "signature does not verify"),
    "rfc-post-malformed-content-digest": (
        BadRequest,
        "Content-Digest is not a valid structured-field dictionary",
    ),
}


@pytest.mark.parametrize("case", MASTODON["cases"], ids=lambda c: c["id"])
def test_mastodon_rfc9421_case(case: dict[str, Any]) -> None:
    """All 11 of Mastodon's RFC 9421 cases, at Mastodon's clock."""
    if case["expected"] == "verified":
        mastodon_verify(case)
        return
    error, message = MASTODON_REJECTIONS[case["id"]]
    with pytest.raises(error, match=re.escape(message)) as info:
        mastodon_verify(case)
    if isinstance(info.value, BadRequest):
        assert info.value.status == 400  # Mastodon answers 400 too


@pytest.mark.parametrize(
    "case",
    [c for c in MASTODON["cases"] if c["signed_base"]],
    ids=lambda c: c["id"],
)
def test_mastodon_rfc9421_signed_bases(case: dict[str, Any]) -> None:
    """Each reconstructed base: the signature is valid over it, and we build it."""
    inner, signature = next(
        (inner, sig)
        for _, inner, sig in parse_signatures(
            case["headers"]["Signature-Input"], case["headers"]["Signature"]
        )
    )
    base = case["signed_base"].encode()
    assert verify_bytes("rsa-v1_5-sha256", bob_public(), signature, base)
    if case["expected"] == "verified":
        message = Message(
            fields=fields_of(list(case["headers"].items())),
            method=case["method"],
            target_uri=case["url"],
            authority="www.example.com",
            path_with_query=case["url"].removeprefix("https://www.example.com"),
        )
        assert signature_base(inner, message) == base
