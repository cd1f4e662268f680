"""Cross-checks with independent implementations, in both directions.

* draft-cavage: `httpsig` (pycryptodome underneath; rsa-sha256 only);
* RFC 9421: `http-message-signatures` 3.x, which works on requests-style objects
  (`method`, `url`, `headers`), hence the tiny `LibRequest` adapter. It checks
  `created` against the wall clock, so we pass `max_age=None` and a past `NOW`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpsig
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    MappingKeyResolver,
    algorithms,
)

from fedserver.signatures import (
    PrivateKey,
    format_http_date,
    private_key_pem,
    public_key_pem,
    sign_cavage,
    sign_rfc9421,
)
from fedserver.signatures.algorithms import Algorithm
from tests.fedserver.signatures.helpers import (
    ACTOR_KEY_ID,
    INBOX,
    NOW,
    bob_private,
    bob_public,
    verify_url,
)

BODY = b'{"type": "Note", "content": "caf\xc3\xa9"}'
PATH = "/users/alice/inbox"


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_our_cavage_signature_verifies_with_httpsig(method: str) -> None:
    body = BODY if method == "POST" else b""
    headers = sign_cavage(
        method, INBOX, {}, body, key_id=ACTOR_KEY_ID, private_key=bob_private(), now=NOW
    )
    required = ["(request-target)", "host", "date"]
    if method == "POST":
        required.append("digest")
    verifier = httpsig.HeaderVerifier(
        headers=headers,
        secret=public_key_pem(bob_public()),
        required_headers=required,
        method=method,
        path=PATH,
        host="example.com",
        sign_header="signature",
    )
    assert verifier.verify() is True


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("sign_header", ["signature", "authorization"])
def test_httpsig_signature_verifies_with_ours(method: str, sign_header: str) -> None:
    body = BODY if method == "POST" else b""
    names = ["(request-target)", "host", "date"]
    headers = {"Date": format_http_date(NOW), "Host": "example.com"}
    if method == "POST":
        names.append("digest")
        headers["Digest"] = sign_cavage(
            method, INBOX, {}, body, key_id="x", private_key=bob_private(), now=NOW
        )["Digest"]
    signer = httpsig.HeaderSigner(
        key_id=ACTOR_KEY_ID,
        secret=private_key_pem(bob_private()),
        algorithm="rsa-sha256",
        headers=names,
        sign_header=sign_header,
    )
    signed = dict(signer.sign(headers, host="example.com", method=method, path=PATH))
    result = verify_url(method, INBOX, signed, body, bob_public())
    assert result.key_id == ACTOR_KEY_ID


@dataclass
class LibRequest:
    """The requests-style message http_message_signatures reads and writes."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


LIB_ALGORITHMS: dict[str, Any] = {
    "rsa-v1_5-sha256": algorithms.RSA_V1_5_SHA256,
    "rsa-pss-sha512": algorithms.RSA_PSS_SHA512,
    "ecdsa-p256-sha256": algorithms.ECDSA_P256_SHA256,
    "ed25519": algorithms.ED25519,
}


@pytest.fixture(params=list(LIB_ALGORITHMS))
def keyed_algorithm(
    request: pytest.FixtureRequest,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    ed25519_key: ed25519.Ed25519PrivateKey,
) -> tuple[Algorithm, PrivateKey]:
    alg: Algorithm = request.param
    keys: dict[str, PrivateKey] = {
        "rsa": rsa_key,
        "ecdsa": ec_key,
        "ed25519": ed25519_key,
    }
    key = keys[alg.split("-")[0]]
    return alg, key


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_our_rfc9421_signature_verifies_with_http_message_signatures(
    method: str, keyed_algorithm: tuple[Algorithm, PrivateKey]
) -> None:
    alg, key = keyed_algorithm
    body = BODY if method == "POST" else b""
    base = {"Content-Type": "application/activity+json"}
    headers = sign_rfc9421(
        method,
        INBOX,
        base,
        body,
        key_id=ACTOR_KEY_ID,
        private_key=key,
        now=NOW,
        algorithm=alg,
    )
    message = LibRequest(method, INBOX, {**base, **headers})
    verifier = HTTPMessageVerifier(
        signature_algorithm=LIB_ALGORITHMS[alg],
        key_resolver=MappingKeyResolver(
            public_keys={ACTOR_KEY_ID: key.public_key()}, private_keys={}
        ),
    )
    (result,) = verifier.verify(message, max_age=None, body=body)
    assert result.parameters["keyid"] == ACTOR_KEY_ID
    if method == "POST":
        assert result.body == body  # the library checked our Content-Digest


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("include_alg", [True, False])
def test_http_message_signatures_signature_verifies_with_ours(
    method: str, include_alg: bool, keyed_algorithm: tuple[Algorithm, PrivateKey]
) -> None:
    """Including signatures without `alg` (our verifier infers it from the key)."""
    alg, key = keyed_algorithm
    body = BODY if method == "POST" else b""
    message = LibRequest(method, INBOX, {"Content-Type": "application/activity+json"})
    signer = HTTPMessageSigner(
        signature_algorithm=LIB_ALGORITHMS[alg],
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={ACTOR_KEY_ID: key}),
    )
    signer.sign(
        message,
        key_id=ACTOR_KEY_ID,
        created=NOW,
        label="sig1",
        include_alg=include_alg,
        covered_component_ids=("@method", "@target-uri", "content-type"),
        body=body if method == "POST" else None,
    )
    result = verify_url(method, INBOX, message.headers, body, key.public_key())
    assert result.label == "sig1"
    assert result.algorithm == (alg if include_alg else None)
