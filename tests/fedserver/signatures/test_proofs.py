"""FEP-8b32 integrity proofs (eddsa-jcs-2022) against the FEP's vector."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from fedserver.errors import SignatureInvalid
from fedserver.multibase import decode_base58btc, encode_base58btc
from fedserver.signatures import (
    create_proof,
    ed25519_key_from_multikey,
    proof_verification_method,
    public_key_multikey,
    verify_proof,
)
from tests.fedserver.signatures.helpers import load_json

VECTOR = load_json("fep8b32/fep8b32-create.json")
CREATED = datetime(2023, 2, 24, 23, 36, 38, tzinfo=UTC)
METHOD = "https://server.example/users/alice#ed25519-key"


def vector_private_key() -> Ed25519PrivateKey:
    """privateKeyMultibase = base58btc(0x80 0x26 || 32-byte seed)."""
    decoded = decode_base58btc(VECTOR["key"]["privateKeyMultibase"])
    assert decoded[:2] == b"\x80\x26"
    return Ed25519PrivateKey.from_private_bytes(decoded[2:])


def vector_public_key() -> Ed25519PublicKey:
    return ed25519_key_from_multikey(VECTOR["key"]["publicKeyMultibase"])


def signed() -> dict[str, Any]:
    return copy.deepcopy(VECTOR["signed_document"])


def test_vector_keys_agree() -> None:
    assert public_key_multikey(vector_private_key()) == VECTOR["key"]["publicKeyMultibase"]


def test_vector_intermediate_hashes() -> None:
    """The two SHA-256 halves of hashData, as the vector records them."""
    config = hashlib.sha256(rfc8785.dumps(VECTOR["proof_config"])).hexdigest()
    document = hashlib.sha256(rfc8785.dumps(VECTOR["unsigned_document"])).hexdigest()
    assert config == VECTOR["intermediate"]["sha256_jcs_proof_config"]
    assert document == VECTOR["intermediate"]["sha256_jcs_document"]


def test_create_proof_reproduces_vector() -> None:
    """Ed25519 is deterministic: same key, same inputs, same proofValue."""
    result = create_proof(
        VECTOR["unsigned_document"],
        vector_private_key(),
        verification_method=METHOD,
        created=CREATED,
    )
    assert result == VECTOR["signed_document"]
    assert result["proof"]["proofValue"] == VECTOR["expected_proofValue"]
    assert "proof" not in VECTOR["unsigned_document"]  # input untouched


def test_vector_verifies() -> None:
    verify_proof(signed(), vector_public_key())
    verify_proof(signed(), vector_public_key(), now=CREATED + timedelta(days=365))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("object", "content"), "Goodbye world"),
        (("object", "location", "latitude"), 25.273963),
        (("actor",), "https://server.example/users/mallory"),
        (("proof", "created"), "2023-02-24T23:36:39Z"),
        (("proof", "verificationMethod"), "https://server.example/users/mallory#k"),
    ],
)
def test_tampered_vector_fails(path: tuple[str, ...], value: Any) -> None:
    document = signed()
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(SignatureInvalid, match="proof signature does not verify"):
        verify_proof(document, vector_public_key())


def test_added_field_fails() -> None:
    document = signed()
    document["cc"] = ["https://www.w3.org/ns/activitystreams#Public"]
    with pytest.raises(SignatureInvalid, match="does not verify"):
        verify_proof(document, vector_public_key())


def test_wrong_key_fails() -> None:
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(SignatureInvalid, match="does not verify"):
        verify_proof(signed(), other)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("type", "Ed25519Signature2020", "proof type 'Ed25519Signature2020'"),
        ("cryptosuite", "eddsa-rdfc-2022", "cryptosuite 'eddsa-rdfc-2022' not"),
        ("proofPurpose", "authentication", "proof purpose 'authentication'"),
        ("proofValue", "u" + "A" * 86, "must start with 'z'"),
        ("proofValue", "z0OIl", "invalid base58 character"),
        ("proofValue", None, "proof has no proofValue"),
        ("verificationMethod", None, "proof has no verificationMethod"),
        ("created", "yesterday", "proof created 'yesterday' is not a dateTimeStamp"),
        ("@context", ["https://example.com/other"], "proof @context does not match"),
    ],
)
def test_malformed_proof(field: str, value: Any, message: str) -> None:
    document = signed()
    if value is None:
        del document["proof"][field]
    else:
        document["proof"][field] = value
    with pytest.raises(SignatureInvalid, match=message):
        verify_proof(document, vector_public_key())


def test_no_proof_and_several_proofs() -> None:
    with pytest.raises(SignatureInvalid, match="document has no proof"):
        verify_proof(VECTOR["unsigned_document"], vector_public_key())
    document = signed()
    document["proof"] = [document["proof"]]
    with pytest.raises(SignatureInvalid, match="several proofs"):
        verify_proof(document, vector_public_key())


def independent_proof(
    document: dict[str, Any], key: Ed25519PrivateKey, options: dict[str, Any]
) -> dict[str, Any]:
    """vc-di-eddsa 3.3 written out here, independently of fedserver.signatures."""
    config = {"@context": document["@context"], **options}
    hash_data = (
        hashlib.sha256(rfc8785.dumps(config)).digest()
        + hashlib.sha256(rfc8785.dumps(document)).digest()
    )
    value = encode_base58btc(key.sign(hash_data))
    return {**document, "proof": {**config, "proofValue": value}}


def test_proof_times_checked_against_now() -> None:
    with pytest.raises(SignatureInvalid, match="is in the future"):
        verify_proof(signed(), vector_public_key(), now=CREATED - timedelta(hours=2))
    options = {**VECTOR["proof_config"], "expires": "2023-02-25T00:00:00Z"}
    del options["@context"]
    document = independent_proof(VECTOR["unsigned_document"], vector_private_key(), options)
    verify_proof(document, vector_public_key(), now=CREATED)
    verify_proof(document, vector_public_key())  # no clock, no expiry check
    with pytest.raises(SignatureInvalid, match="proof expired at 2023-02-25T00:00:00Z"):
        verify_proof(document, vector_public_key(), now=CREATED + timedelta(hours=1))


def test_round_trip_without_context() -> None:
    key = Ed25519PrivateKey.generate()
    document = create_proof(
        {"id": "https://example.com/notes/1", "type": "Note", "content": "é ☃ 1e21"},
        key,
        verification_method="https://example.com/users/alice#ed25519-key",
        created=CREATED,
        proof_purpose="assertionMethod",
    )
    assert "@context" not in document["proof"]
    verify_proof(document, key.public_key())
    assert proof_verification_method(document) == ("https://example.com/users/alice#ed25519-key")


def test_verification_method_of_vector() -> None:
    assert proof_verification_method(signed()) == METHOD


def test_create_refuses_a_signed_document() -> None:
    with pytest.raises(ValueError, match="already has a proof"):
        create_proof(signed(), vector_private_key(), verification_method=METHOD, created=CREATED)
