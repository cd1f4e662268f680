"""Key types, loading, generation and PEM serialization (pure; never reads files).

Three key types are supported, the ones the fediverse and RFC 9421 use:
RSA (every ActivityPub server; at least 2048 bits), Ed25519 (FEP-8b32 proofs,
FEP-521a, some RFC 9421 peers) and ECDSA on P-256 (RFC 9421 `ecdsa-p256-sha256`).
Anything else (DSA, other curves, X25519) is refused with a message naming it.

A public key comes from a remote document, so a bad one is the peer's fault and
raises `SignatureInvalid` (401). A private key is ours (config, database), so a bad
one is a bug or a configuration error and raises `ValueError`.
"""

from __future__ import annotations

from typing import TypeAlias

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from fedserver.errors import BadRequest, SignatureInvalid
from fedserver.multibase import ed25519_multikey, parse_ed25519_multikey

__all__ = [
    "MIN_RSA_BITS",
    "PrivateKey",
    "PublicKey",
    "check_public_key",
    "ed25519_key_from_multikey",
    "generate_ed25519_key",
    "generate_rsa_key",
    "load_private_key",
    "load_public_key",
    "private_key_pem",
    "public_key_multikey",
    "public_key_pem",
]

PublicKey: TypeAlias = rsa.RSAPublicKey | ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
PrivateKey: TypeAlias = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey

#: NIST SP 800-57 and every current fediverse server: RSA keys below this are refused.
MIN_RSA_BITS = 2048


def _describe(key: object) -> str:
    return type(key).__name__.removeprefix("_").removesuffix("PublicKey")


def check_public_key(key: object, *, min_rsa_bits: int = MIN_RSA_BITS) -> PublicKey:
    """Return `key` if it is a supported, strong enough public key; else raise.

    Raises SignatureInvalid: "RSA key has 1,024 bits (min 2,048)", "EC key on
    curve secp384r1 not supported (only P-256)", "key type DSA not supported".
    """
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < min_rsa_bits:
            raise SignatureInvalid(f"RSA key has {key.key_size:,} bits (min {min_rsa_bits:,})")
        return key
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise SignatureInvalid(f"EC key on curve {key.curve.name} not supported (only P-256)")
        return key
    raise SignatureInvalid(f"key type {_describe(key)} not supported")


def load_public_key(pem: str | bytes, *, min_rsa_bits: int = MIN_RSA_BITS) -> PublicKey:
    """Parse a `publicKeyPem` (SubjectPublicKeyInfo, or PKCS#1 `RSA PUBLIC KEY`).

    Parse once per key document and cache the key object with the actor.
    `min_rsa_bits` exists so tests can load the 1024-bit key of the draft-cavage
    appendix C vectors; production code keeps the default.

    Raises SignatureInvalid if the PEM cannot be parsed or the key is refused.
    """
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data.strip())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SignatureInvalid(f"public key is not a valid PEM key: {exc}") from None
    return check_public_key(key, min_rsa_bits=min_rsa_bits)


def load_private_key(pem: str | bytes, *, min_rsa_bits: int = MIN_RSA_BITS) -> PrivateKey:
    """Parse one of our own unencrypted PEM private keys (PKCS#8 or PKCS#1/SEC1).

    Raises ValueError: a bad private key is a configuration error, not a peer's.
    """
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data.strip(), password=None)
    except (TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"private key cannot be loaded: {exc}") from exc
    if not isinstance(
        key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    ):
        raise ValueError(f"private key type {type(key).__name__} not supported")
    try:
        check_public_key(key.public_key(), min_rsa_bits=min_rsa_bits)
    except SignatureInvalid as exc:
        raise ValueError(f"private key refused: {exc.detail}") from None
    return key


def generate_rsa_key(bits: int = MIN_RSA_BITS) -> rsa.RSAPrivateKey:
    """A new RSA key (public exponent 65537), the key every fediverse peer accepts."""
    if bits < MIN_RSA_BITS:
        raise ValueError(f"refusing to generate an RSA key under {MIN_RSA_BITS} bits")
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def generate_ed25519_key() -> ed25519.Ed25519PrivateKey:
    """A new Ed25519 key, for FEP-8b32 proofs and FEP-521a `assertionMethod`."""
    return ed25519.Ed25519PrivateKey.generate()


def public_key_pem(key: PublicKey | PrivateKey) -> str:
    """The SubjectPublicKeyInfo PEM that goes into an actor's `publicKeyPem`."""
    public = key if isinstance(key, PublicKey) else key.public_key()
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def private_key_pem(key: PrivateKey) -> str:
    """Unencrypted PKCS#8 PEM, for storing our own key in the database."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def public_key_multikey(
    key: ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey,
) -> str:
    """The FEP-521a `publicKeyMultibase` of an Ed25519 key (`z6Mk...`)."""
    public = key.public_key() if isinstance(key, ed25519.Ed25519PrivateKey) else key
    return ed25519_multikey(public.public_bytes_raw())


def ed25519_key_from_multikey(value: str) -> ed25519.Ed25519PublicKey:
    """The Ed25519 key of a remote `publicKeyMultibase`; SignatureInvalid if not one."""
    try:
        raw = parse_ed25519_multikey(value)
    except BadRequest as exc:
        raise SignatureInvalid(exc.detail) from None
    return ed25519.Ed25519PublicKey.from_public_bytes(raw)
