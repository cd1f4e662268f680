"""Shared test data for the signature tests: the vectors directory, clocks, keys.

Keys are the static vector keys (Takahē style), parsed once; only the round-trip
tests generate keys, in module-scoped fixtures.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from fedserver.signatures import (
    PrivateKey,
    PublicKey,
    SignedRequest,
    load_private_key,
    load_public_key,
    verify_request,
)
from fedserver.signatures.model import split_url

VECTORS = Path(__file__).resolve().parents[2] / "vectors"

#: Mastodon's spec runs at this instant (travel_to '2023-12-20T10:00:00Z').
MASTODON_NOW = datetime(2023, 12, 20, 10, 0, 0, tzinfo=UTC)
#: Our own clock for round trips.
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
INBOX = "https://example.com/users/alice/inbox"
ACTOR_KEY_ID = "https://remote.example/users/bob#main-key"


def load_json(relative: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / relative).read_text())
    return data


def pem(relative: str) -> str:
    return (VECTORS / relative).read_text()


@cache
def public_key(relative: str, min_rsa_bits: int = 2048) -> PublicKey:
    return load_public_key(pem(relative), min_rsa_bits=min_rsa_bits)


@cache
def private_key(relative: str, min_rsa_bits: int = 2048) -> PrivateKey:
    return load_private_key(pem(relative), min_rsa_bits=min_rsa_bits)


def bob_public() -> PublicKey:
    return public_key("mastodon/bob.pub.pem")


def bob_private() -> rsa.RSAPrivateKey:
    key = private_key("mastodon/bob.priv.pem")
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def verify_url(
    method: str,
    url: str,
    headers: dict[str, str] | list[tuple[str, str]],
    body: bytes,
    key: PublicKey,
    *,
    now: datetime = NOW,
    min_rsa_bits: int = 2048,
) -> SignedRequest:
    """verify_request for a request to `url`, with our host and URL taken from it."""
    scheme, host, target = split_url(url)
    items = list(headers.items()) if isinstance(headers, dict) else headers
    return verify_request(
        method,
        target,
        items,
        body,
        host=host,
        target_uri=f"{scheme}://{host}{target}",
        public_key=key,
        now=now,
        min_rsa_bits=min_rsa_bits,
    )


def handmade_cavage(
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
    lines: list[tuple[str, str]],
    *,
    key_id: str = ACTOR_KEY_ID,
    algorithm: str | None = "rsa-sha256",
    extra: str = "",
) -> str:
    """A draft-cavage Signature header built by hand, independently of our signer.

    `lines` are the (name, value) pairs of the signing string, in order.
    """
    text = "\n".join(f"{name}: {value}" for name, value in lines).encode()
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(text, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = key.sign(text)
    names = " ".join(name for name, _ in lines)
    alg = "" if algorithm is None else f'algorithm="{algorithm}",'
    encoded = base64.b64encode(signature).decode()
    return f'keyId="{key_id}",{alg}headers="{names}",{extra}signature="{encoded}"'
