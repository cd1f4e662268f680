"""draft-cavage vectors: the draft's appendix C and Mastodon's request spec.

Appendix C is signed with a 1024-bit key, so these tests pass `min_rsa_bits=1024`
(production keeps 2048; see test_rsa_1024_vector_key_refused_by_default).

Known defect (tests/vectors/SOURCES.md): C.3's Signature header lists
`(created) (expires)`, but its signature only verifies over the signing string as
printed in the draft, which leaves them out. We test the signature over the printed
string, and that the header as given is rejected.
"""

from __future__ import annotations

import base64
import contextlib
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from fedserver.errors import FedError, SignatureInvalid
from fedserver.signatures import (
    load_public_key,
    parse_request_signature,
    verify_request,
)
from fedserver.signatures.algorithms import verify_bytes
from fedserver.signatures.cavage import parse_signature_header, signing_string
from fedserver.signatures.model import RequestView, collect_fields
from tests.fedserver.signatures.helpers import (
    MASTODON_NOW,
    bob_public,
    load_json,
    pem,
    public_key,
)

APPENDIX_C = load_json("cavage12/cavage12-appendix-c.json")
MASTODON = load_json("mastodon/mastodon-signature-verification-spec.json")
C_NOW = datetime(2014, 1, 5, 21, 31, 40, tzinfo=UTC)


def c_key() -> Any:
    return public_key("cavage12/test-key.pub.pem", min_rsa_bits=1024)


def c_request(date: str | None = None) -> RequestView:
    request = APPENDIX_C["request"]
    headers = dict(request["headers"])
    if date is not None:
        headers["Date"] = date
    return RequestView(
        method=request["method"],
        path_with_query=request["path"],
        fields=collect_fields(headers.items()),
        body=request["body"].encode(),
        host="example.com",
        target_uri="https://example.com" + request["path"],
    )


@pytest.mark.parametrize("case", APPENDIX_C["cases"], ids=lambda c: c["id"])
def test_appendix_c_signature_verifies_over_printed_signing_string(
    case: dict[str, Any],
) -> None:
    """Every appendix C (and draft-08) signature is valid over its printed string.

    For "C.3-all-with-created" this is the known defect: the printed string is the
    one *without* (created)/(expires), so the signature fails over the string its
    own header describes.
    """
    signature = base64.b64decode(case["signature"])
    printed = case["signing_string"].encode()
    valid = verify_bytes("rsa-v1_5-sha256", c_key(), signature, printed)
    assert valid is (case["id"] != "C.3-all-with-created")
    if case["id"] == "C.3-all-with-created":
        as_printed = next(c for c in APPENDIX_C["cases"] if c["id"] == "C.3-all-as-printed")
        assert verify_bytes(
            "rsa-v1_5-sha256",
            c_key(),
            signature,
            as_printed["signing_string"].encode(),
        )


@pytest.mark.parametrize(
    "case",
    [c for c in APPENDIX_C["cases"] if c.get("signature_header")],
    ids=lambda c: c["id"],
)
def test_appendix_c_signing_string_rebuilt_from_header(case: dict[str, Any]) -> None:
    """Our signing string from the Signature header equals the draft's text."""
    sig = parse_signature_header(case["signature_header"])
    assert signing_string(c_request(), sig) == case["signing_string"]


@pytest.mark.parametrize(
    ("case_id", "date"),
    [
        ("C.3-all-as-printed", None),
        ("draft08-all(httpsig tests)", "Thu, 05 Jan 2014 21:31:40 GMT"),
    ],
)
def test_appendix_c_full_coverage_passes_whole_pipeline(case_id: str, date: str | None) -> None:
    """The rows that cover digest verify end to end (digest, window, crypto)."""
    case = next(c for c in APPENDIX_C["cases"] if c["id"] == case_id)
    header = (
        f'keyId="Test",algorithm="rsa-sha256",headers="{case["headers_param"]}",'
        f'signature="{case["signature"]}"'
    )
    request = APPENDIX_C["request"]
    headers = dict(request["headers"])
    if date is not None:
        headers["Date"] = date
    signed = verify_request(
        "POST",
        request["path"],
        [*headers.items(), ("Signature", header)],
        request["body"].encode(),
        host="example.com",
        target_uri="https://example.com" + request["path"],
        public_key=c_key(),
        now=C_NOW,
        min_rsa_bits=1024,
    )
    assert signed.key_id == "Test"
    assert signed.scheme == "draft-cavage-12"


@pytest.mark.parametrize(
    ("case_id", "message"),
    [
        ("C.1-default", "signed headers must include '(request-target)' or 'digest'"),
        ("C.2-basic", "signed headers must include 'digest' on POST"),
        (
            "C.3-all-with-created",
            "'(created)' cannot be signed with algorithm 'rsa-sha256'",
        ),
    ],
)
def test_appendix_c_rows_our_policy_refuses(case_id: str, message: str) -> None:
    """C.1/C.2 are POSTs that leave the body unsigned; C.3's header is defective."""
    case = next(c for c in APPENDIX_C["cases"] if c["id"] == case_id)
    request = APPENDIX_C["request"]
    with pytest.raises(SignatureInvalid, match=re.escape(message)):
        verify_request(
            "POST",
            request["path"],
            [*request["headers"].items(), ("Signature", case["signature_header"])],
            request["body"].encode(),
            host="example.com",
            target_uri="https://example.com" + request["path"],
            public_key=c_key(),
            now=C_NOW,
            min_rsa_bits=1024,
        )


def test_appendix_c3_header_as_given_fails_even_with_hs2019() -> None:
    """With hs2019 (which allows (created)) the C.3 header still does not verify.

    Its Date (January 2014) and (created) (June 2014) cannot both be in any time
    window, so this checks the signature over the parsed signing string directly.
    """
    case = next(c for c in APPENDIX_C["cases"] if c["id"] == "C.3-all-with-created")
    header = case["signature_header"].replace("rsa-sha256", "hs2019")
    request = APPENDIX_C["request"]
    signed = parse_request_signature(
        "POST",
        request["path"],
        [*request["headers"].items(), ("Signature", header)],
        request["body"].encode(),
        host="example.com",
        target_uri="https://example.com" + request["path"],
    )
    assert signed.messages == (case["signing_string"].encode(),)
    assert signed.created == datetime(2014, 6, 7, 19, 51, 35, tzinfo=UTC)
    assert not verify_bytes("rsa-v1_5-sha256", c_key(), signed.signature, *signed.messages)


def test_rsa_1024_vector_key_refused_by_default() -> None:
    with pytest.raises(SignatureInvalid, match=r"RSA key has 1,024 bits \(min 2,048\)"):
        load_public_key(pem("cavage12/test-key.pub.pem"))


def test_rsa_1024_key_refused_at_verification() -> None:
    case = next(c for c in APPENDIX_C["cases"] if c["id"] == "C.3-all-as-printed")
    header = (
        f'keyId="Test",algorithm="rsa-sha256",headers="{case["headers_param"]}",'
        f'signature="{case["signature"]}"'
    )
    request = APPENDIX_C["request"]
    with pytest.raises(SignatureInvalid, match="RSA key has 1,024 bits"):
        verify_request(
            "POST",
            request["path"],
            [*request["headers"].items(), ("Signature", header)],
            request["body"].encode(),
            host="example.com",
            target_uri="https://example.com" + request["path"],
            public_key=c_key(),
            now=C_NOW,
        )


def mastodon_verify(case: dict[str, Any]) -> None:
    headers = [*case["headers"].items(), ("Signature", case["signature_header"])]
    verify_request(
        case["method"],
        case["path"],
        headers,
        case["body"].encode(),
        host="www.example.com",
        target_uri="https://www.example.com" + case["path"],
        public_key=bob_public(),
        now=MASTODON_NOW,
    )


#: Our message for each of Mastodon's rejections (theirs in the JSON, for people).
MASTODON_REJECTIONS = {
    "get-query-mismatch": "signature does not verify",
    "get-path-mismatch": "signature does not verify",
    "method-mismatch": "signed headers must include 'digest' on POST",
    "unparsable-date": "date header 'wrong date' is not an HTTP date",
    "older-than-a-day": r"date is 172,800 s old \(max 3,900 s\)",
    "post-digest-not-signed": "signed headers must include 'digest' on POST",
    "post-tampered-body": (
        "Digest does not match body: computed SHA-256 "
        r"wFNeS\+K3n/2TKRMFQ2v4iTFOSj\+uwF7P/Lt98xrZ5Ro="
    ),
    "post-tampered-path": "signature does not verify",
}


@pytest.mark.parametrize("case", MASTODON["cases"], ids=lambda c: c["id"])
def test_mastodon_draft_cavage_case(case: dict[str, Any]) -> None:
    """All 12 of Mastodon's draft-cavage cases, at Mastodon's clock."""
    if case["expected"].startswith("verified"):
        mastodon_verify(case)
        return
    with pytest.raises(SignatureInvalid, match=MASTODON_REJECTIONS[case["id"]]):
        mastodon_verify(case)


def test_mastodon_signing_strings_match_ours() -> None:
    """Our signing string equals the one Mastodon's spec signed, for each case."""
    for case in MASTODON["cases"]:
        sig = parse_signature_header(case["signature_header"])
        request = RequestView(
            method=case["method"],
            path_with_query=case["path"],
            fields=collect_fields(case["headers"].items()),
            body=case["body"].encode(),
            host="www.example.com",
            target_uri="https://www.example.com" + case["path"],
        )
        built = {
            signing_string(request, sig),
            signing_string(request, sig, with_query=False),
        }
        valid = verify_bytes(
            "rsa-v1_5-sha256",
            bob_public(),
            sig.signature,
            case["signing_string_signed"].encode(),
        )
        assert valid, case["id"]
        if case["expected"].startswith("verified"):
            assert case["signing_string_signed"] in built, case["id"]


def test_mastodon_method_mismatch_fails_on_crypto_too() -> None:
    """Replaying Mastodon's signed GET as HEAD (no body rule applies) fails the math."""
    case = next(c for c in MASTODON["cases"] if c["id"] == "get-valid")
    with pytest.raises(SignatureInvalid, match="signature does not verify"):
        mastodon_verify({**case, "method": "HEAD"})


def test_mastodon_cases_raise_only_fed_errors() -> None:
    """No case escapes as a bug (a non-FedError exception)."""
    for case in MASTODON["cases"]:
        with contextlib.suppress(FedError):
            mastodon_verify(case)
