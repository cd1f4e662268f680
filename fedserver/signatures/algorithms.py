"""The four signature algorithms, by their RFC 9421 names (pure).

Both HTTP signature schemes map onto these (draft-cavage `rsa-sha256` and `hs2019`
with an RSA key are `rsa-v1_5-sha256`, as in Mastodon), so the cryptography calls
live in one place. Names and parameters are from RFC 9421 section 3.3:
https://www.rfc-editor.org/rfc/rfc9421#section-3.3
"""

from __future__ import annotations

from typing import Final, Literal, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from fedserver.errors import SignatureInvalid
from fedserver.signatures.keys import PrivateKey, PublicKey

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "default_algorithm",
    "key_fits",
    "key_type",
    "sign_bytes",
    "verify_bytes",
]

Algorithm = Literal["rsa-v1_5-sha256", "rsa-pss-sha512", "ecdsa-p256-sha256", "ed25519"]
ALGORITHMS: Final[tuple[Algorithm, ...]] = (
    "rsa-v1_5-sha256",
    "rsa-pss-sha512",
    "ecdsa-p256-sha256",
    "ed25519",
)

_PKCS1 = padding.PKCS1v15()
# RFC 9421 3.3.1: RSASSA-PSS with SHA-512, MGF1 with SHA-512 and a 64-byte salt.
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
_SHA256 = hashes.SHA256()
_SHA512 = hashes.SHA512()
_ECDSA = ec.ECDSA(hashes.SHA256())
_KEY_TYPES: Final = {
    "rsa-v1_5-sha256": "RSA",
    "rsa-pss-sha512": "RSA",
    "ecdsa-p256-sha256": "EC P-256",
    "ed25519": "Ed25519",
}


#: Key class -> family. `isinstance` against cryptography's ABCs (a union of two, often
#: a miss first) costs more per call than the dict lookup, and the verify path asks on
#: every request (bench/signatures.py). A handful of classes, so it stays tiny.
_FAMILIES: dict[type, str] = {}


def key_type(key: PublicKey | PrivateKey) -> str:
    """The key's family: 'RSA', 'Ed25519' or 'EC P-256' (for messages and checks)."""
    family = _FAMILIES.get(type(key))
    if family is None:
        family = _family(key)
        _FAMILIES[type(key)] = family
    return family


def _family(key: PublicKey | PrivateKey) -> str:
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return "RSA"
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "Ed25519"
    return "EC P-256"


def default_algorithm(key: PublicKey | PrivateKey) -> Algorithm:
    """The algorithm a key implies when the signature names none.

    RSA means PKCS#1 v1.5 with SHA-256: that is what `hs2019` and an RFC 9421
    signature without `alg` mean in practice (Mastodon, GoToSocial).
    """
    kind = key_type(key)
    if kind == "RSA":
        return "rsa-v1_5-sha256"
    if kind == "Ed25519":
        return "ed25519"
    return "ecdsa-p256-sha256"


def key_fits(algorithm: Algorithm, key: PublicKey | PrivateKey) -> bool:
    """True if `key` is of the type `algorithm` needs (RSA, Ed25519, EC P-256)."""
    return _KEY_TYPES[algorithm] == key_type(key)


def _check_key_matches(algorithm: Algorithm, key: PublicKey | PrivateKey) -> None:
    if not key_fits(algorithm, key):
        raise SignatureInvalid(f"algorithm '{algorithm}' does not match the {key_type(key)} key")


def sign_bytes(algorithm: Algorithm, key: PrivateKey, data: bytes) -> bytes:
    """Sign `data`; ECDSA signatures come out as raw r||s (64 bytes, RFC 9421 3.3.4)."""
    _check_key_matches(algorithm, key)
    if isinstance(key, rsa.RSAPrivateKey):
        if algorithm == "rsa-pss-sha512":
            return key.sign(data, _PSS, _SHA512)
        return key.sign(data, _PKCS1, _SHA256)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    r, s = decode_dss_signature(key.sign(data, _ECDSA))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify_bytes(algorithm: Algorithm, key: PublicKey, signature: bytes, data: bytes) -> bool:
    """True if `signature` is valid for `data`; SignatureInvalid if the key is wrong.

    Returns a bool (not raising) for a plain mismatch because the draft-cavage
    verifier tries a second signing string before giving up.
    """
    family = key_type(key)
    if _KEY_TYPES[algorithm] != family:
        raise SignatureInvalid(f"algorithm '{algorithm}' does not match the {family} key")
    try:
        if family == "RSA":
            rsa_key = cast(rsa.RSAPublicKey, key)
            if algorithm == "rsa-pss-sha512":
                rsa_key.verify(signature, data, _PSS, _SHA512)
            else:
                rsa_key.verify(signature, data, _PKCS1, _SHA256)
        elif family == "Ed25519":
            cast(ed25519.Ed25519PublicKey, key).verify(signature, data)
        else:
            if len(signature) != 64:
                return False
            r = int.from_bytes(signature[:32], "big")
            s = int.from_bytes(signature[32:], "big")
            ec_key = cast(ec.EllipticCurvePublicKey, key)
            ec_key.verify(encode_dss_signature(r, s), data, _ECDSA)
    except InvalidSignature:
        return False
    return True
