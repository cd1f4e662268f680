"""Password hashing with scrypt (memory-hard) from `cryptography`.

Stored form: `scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>`, so the cost can be raised
later without invalidating existing hashes. `!` marks an account that cannot sign in.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

#: 2**15 x 8 x 128 bytes = 32 MiB and about 60 ms per hash on this machine's cores.
DEFAULT_LOG2_N = 15
_R = 8
_P = 1
_LENGTH = 32
DISABLED = "!"


def hash_password(password: str, *, log2_n: int = DEFAULT_LOG2_N) -> str:
    salt = os.urandom(16)
    derived = _derive(password, salt, log2_n, _R, _P)
    return "$".join(["scrypt", str(log2_n), str(_R), str(_P), _b64(salt), _b64(derived)])


def check_password(password: str, stored: str) -> bool:
    """Constant-time comparison; False for malformed or disabled hashes."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        log2_n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except ValueError:
        return False
    if not (10 <= log2_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16):
        return False
    return hmac.compare_digest(_derive(password, salt, log2_n, r, p), expected)


def generate_password() -> str:
    """A random password for `fedserver user create` without --password (~128 bits)."""
    return secrets.token_urlsafe(16)


def _derive(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    kdf = Scrypt(salt=salt, length=_LENGTH, n=1 << log2_n, r=r, p=p)
    return kdf.derive(password.encode("utf-8"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
