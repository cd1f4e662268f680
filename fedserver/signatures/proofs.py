"""FEP-8b32 object integrity proofs with the `eddsa-jcs-2022` cryptosuite (pure).

Specs: FEP-8b32 (https://codeberg.org/fediverse/fep/src/branch/main/fep/8b32/fep-8b32.md)
and W3C Data Integrity EdDSA Cryptosuites v1.0, section 3.3
(https://www.w3.org/TR/vc-di-eddsa/#eddsa-jcs-2022). The algorithm, exactly:

1. proof configuration = the proof's options (`type`, `cryptosuite`,
   `verificationMethod`, `proofPurpose`, `created`, ...) without `proofValue`,
   carrying the document's `@context` when it has one;
2. hashData = SHA-256(JCS(proof configuration)) || SHA-256(JCS(document without
   `proof`)), with JCS = RFC 8785 (the `rfc8785` package; `json.dumps` gets
   floats wrong);
3. `proofValue` = multibase base58btc ('z...') of Ed25519(hashData).

A valid proof says only that the holder of `verificationMethod` signed the
document; the caller must still check that the key belongs to the document's
actor (SECURITY.md invariant 2).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from fedserver.errors import BadRequest, SignatureInvalid
from fedserver.multibase import decode_base58btc, encode_base58btc

__all__ = ["create_proof", "proof_verification_method", "verify_proof"]

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"
#: How far in the future a proof's `created` may be (same skew as HTTP signatures).
CLOCK_SKEW = timedelta(hours=1)


def _hash_data(proof_config: dict[str, Any], document: dict[str, Any]) -> bytes:
    try:
        config = rfc8785.dumps(proof_config)
        body = rfc8785.dumps(document)
    except rfc8785.CanonicalizationError as exc:
        raise SignatureInvalid(f"document cannot be canonicalized (JCS): {exc}") from None
    return hashlib.sha256(config).digest() + hashlib.sha256(body).digest()


def _format_created(created: datetime) -> str:
    if created.tzinfo is None:
        raise ValueError("created must be timezone-aware")
    return created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def create_proof(
    document: dict[str, Any],
    private_key: Ed25519PrivateKey,
    *,
    verification_method: str,
    created: datetime,
    proof_purpose: str = "assertionMethod",
) -> dict[str, Any]:
    """A copy of `document` with an `eddsa-jcs-2022` `proof` added.

    `verification_method` is the id of our Ed25519 key (e.g.
    `https://example.com/users/alice#ed25519-key`). Raises ValueError if the
    document already has a proof.
    """
    if "proof" in document:
        raise ValueError("document already has a proof")
    proof: dict[str, Any] = {}
    if "@context" in document:
        proof["@context"] = document["@context"]
    proof |= {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
        "created": _format_created(created),
    }
    signature = private_key.sign(_hash_data(proof, document))
    return {**document, "proof": {**proof, "proofValue": encode_base58btc(signature)}}


def _proof(document: dict[str, Any]) -> dict[str, Any]:
    proof = document.get("proof")
    if proof is None:
        raise SignatureInvalid("document has no proof")
    if isinstance(proof, list):
        raise SignatureInvalid("documents with several proofs are not supported")
    if not isinstance(proof, dict):
        raise SignatureInvalid("proof is not an object")
    return proof


def proof_verification_method(document: dict[str, Any]) -> str:
    """The key id the document's proof claims, for the caller to resolve.

    Raises SignatureInvalid if there is no single proof with a string
    `verificationMethod`.
    """
    method = _proof(document).get("verificationMethod")
    if not isinstance(method, str) or not method:
        raise SignatureInvalid("proof has no verificationMethod")
    return method


def _parse_time(proof: dict[str, Any], name: str) -> datetime | None:
    value = proof.get(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise SignatureInvalid(f"proof {name} {value!r} is not a dateTimeStamp")
    return moment


def verify_proof(
    document: dict[str, Any],
    public_key: Ed25519PublicKey,
    *,
    proof_purpose: str = "assertionMethod",
    now: datetime | None = None,
) -> None:
    """Verify the document's `eddsa-jcs-2022` proof with `public_key`.

    Checks the proof type, cryptosuite and purpose, that the document's
    `@context` starts with the proof's (vc-di-eddsa 3.3.2), and, when `now` is
    given, that `created` is not in the future (beyond 1 h of skew) and
    `expires` has not passed. Raises SignatureInvalid on any failure.
    """
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    proof = _proof(document)
    if proof.get("type") != PROOF_TYPE:
        raise SignatureInvalid(f"proof type {proof.get('type')!r} not supported")
    if proof.get("cryptosuite") != CRYPTOSUITE:
        raise SignatureInvalid(
            f"cryptosuite {proof.get('cryptosuite')!r} not supported ({CRYPTOSUITE})"
        )
    if proof.get("proofPurpose") != proof_purpose:
        raise SignatureInvalid(
            f"proof purpose {proof.get('proofPurpose')!r} is not {proof_purpose!r}"
        )
    proof_verification_method(document)
    created = _parse_time(proof, "created")
    expires = _parse_time(proof, "expires")
    if now is not None:
        if created is not None and created > now + CLOCK_SKEW:
            raise SignatureInvalid(f"proof created {proof['created']} is in the future")
        if expires is not None and expires < now:
            raise SignatureInvalid(f"proof expired at {proof['expires']}")
    encoded = proof.get("proofValue")
    if not isinstance(encoded, str):
        raise SignatureInvalid("proof has no proofValue")
    try:
        signature = decode_base58btc(encoded)
    except BadRequest as exc:
        raise SignatureInvalid(f"proofValue is malformed: {exc.detail}") from None
    unsecured = {key: value for key, value in document.items() if key != "proof"}
    if "@context" in proof:
        context = proof["@context"]
        expected = context if isinstance(context, list) else [context]
        actual = unsecured.get("@context")
        actual_list = actual if isinstance(actual, list) else [actual]
        if actual_list[: len(expected)] != expected:
            raise SignatureInvalid("proof @context does not match the document's")
        unsecured["@context"] = context
    config = {key: value for key, value in proof.items() if key != "proofValue"}
    try:
        public_key.verify(signature, _hash_data(config, unsecured))
    except InvalidSignature:
        raise SignatureInvalid("proof signature does not verify") from None
