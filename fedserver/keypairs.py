"""Key pairs of local actors: generated at creation, stored as PEM, parsed once for signing.

Every local actor (users and the instance actor) has an RSA-2048 key, published as
`publicKey` and used for HTTP signatures (what every peer verifies, PEERS.md), and an
Ed25519 key, published per FEP-521a as an `assertionMethod` Multikey for FEP-8b32
object integrity proofs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from fedserver.db import KeyPairRow
from fedserver.signatures import (
    generate_ed25519_key,
    generate_rsa_key,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_multikey,
    public_key_pem,
)

RSA = "rsa"
ED25519 = "ed25519"


@dataclass(frozen=True)
class GeneratedKeyPair:
    kind: str
    private_key_pem: str
    public_key_pem: str


def generate_keypairs() -> list[GeneratedKeyPair]:
    """A fresh RSA-2048 and Ed25519 pair. CPU-bound (~50-200 ms): run it in a thread."""
    rsa_key = generate_rsa_key()
    ed_key = generate_ed25519_key()
    return [
        GeneratedKeyPair(RSA, private_key_pem(rsa_key), public_key_pem(rsa_key)),
        GeneratedKeyPair(ED25519, private_key_pem(ed_key), public_key_pem(ed_key)),
    ]


@dataclass(frozen=True)
class PublicKeys:
    """What an actor document publishes."""

    rsa_pem: str
    ed25519_multikey: str


@dataclass(frozen=True)
class SigningKeys:
    """Parsed private keys, kept in memory so nothing re-parses PEM per request."""

    rsa: rsa.RSAPrivateKey
    ed25519: ed25519.Ed25519PrivateKey
    public: PublicKeys


def public_keys_from(rows: dict[str, KeyPairRow]) -> PublicKeys:
    ed_public = load_public_key(rows[ED25519].public_key_pem)
    if not isinstance(ed_public, ed25519.Ed25519PublicKey):
        raise ValueError("stored ed25519 key pair holds another kind of key")
    return PublicKeys(
        rsa_pem=rows[RSA].public_key_pem, ed25519_multikey=public_key_multikey(ed_public)
    )


def signing_keys_from(rows: dict[str, KeyPairRow]) -> SigningKeys:
    rsa_key = load_private_key(rows[RSA].private_key_pem)
    ed_key = load_private_key(rows[ED25519].private_key_pem)
    if not isinstance(rsa_key, rsa.RSAPrivateKey) or not isinstance(
        ed_key, ed25519.Ed25519PrivateKey
    ):
        raise ValueError("stored key pairs are not RSA and Ed25519")
    return SigningKeys(
        rsa=rsa_key,
        ed25519=ed_key,
        public=PublicKeys(
            rsa_pem=rows[RSA].public_key_pem,
            ed25519_multikey=public_key_multikey(ed_key.public_key()),
        ),
    )


class LocalKeys:
    """Parsed signing keys of local actors, loaded once per process (bovine spent 32 ms
    per request re-parsing a PEM: PERF.md)."""

    def __init__(self, load: Callable[[int | None], Awaitable[dict[str, KeyPairRow]]]) -> None:
        self._load = load
        self._keys: dict[int | None, SigningKeys] = {}

    async def get(self, account_id: int | None) -> SigningKeys:
        """Keys of a local account; `None` is the instance actor."""
        keys = self._keys.get(account_id)
        if keys is None:
            rows = await self._load(account_id)
            if not rows:
                raise LookupError(f"no keys stored for account {account_id}")
            keys = signing_keys_from(rows)
            self._keys[account_id] = keys
        return keys
