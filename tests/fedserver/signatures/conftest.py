"""Keys for the signature tests: generated once per session (RSA generation is slow)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from fedserver.signatures import generate_ed25519_key, generate_rsa_key


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 key (the one test that generates, as STYLE.md 13 asks)."""
    return generate_rsa_key()


@pytest.fixture(scope="session")
def other_rsa_key() -> rsa.RSAPrivateKey:
    """A second RSA key, for "wrong key" cases."""
    return generate_rsa_key()


@pytest.fixture(scope="session")
def ed25519_key() -> ed25519.Ed25519PrivateKey:
    return generate_ed25519_key()


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())
