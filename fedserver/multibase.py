"""Multibase base58btc and Multikey encodings (pure).

Used for the Ed25519 key published per FEP-521a (`publicKeyMultibase`) and for the
`proofValue` of FEP-8b32 integrity proofs. See https://www.w3.org/TR/controller-document/#multikey
and https://datatracker.ietf.org/doc/html/draft-multiformats-multibase.
"""

from __future__ import annotations

from fedserver.errors import BadRequest

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {char: value for value, char in enumerate(_ALPHABET)}

#: The multicodec varint prefix of an Ed25519 public key (0xed, as a varint: ed 01).
ED25519_PUB_PREFIX = b"\xed\x01"


def b58encode(data: bytes) -> str:
    """Base58 (Bitcoin alphabet). Leading zero bytes become leading '1's.

    >>> b58encode(b"hello")
    'Cn8eVZg'
    """
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, remainder = divmod(number, 58)
        digits.append(_ALPHABET[remainder])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(digits))


def b58decode(text: str) -> bytes:
    """The inverse of `b58encode`; raises BadRequest on a character outside the alphabet."""
    number = 0
    for char in text:
        try:
            number = number * 58 + _INDEX[char]
        except KeyError:
            raise BadRequest(f"invalid base58 character {char!r}") from None
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


def encode_base58btc(data: bytes) -> str:
    """Multibase: 'z' + base58btc."""
    return "z" + b58encode(data)


def decode_base58btc(text: str) -> bytes:
    if not text.startswith("z"):
        raise BadRequest("multibase value must start with 'z' (base58btc)")
    return b58decode(text[1:])


def ed25519_multikey(raw_public_key: bytes) -> str:
    """The `publicKeyMultibase` of a 32-byte Ed25519 public key (it starts with 'z6Mk')."""
    if len(raw_public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return encode_base58btc(ED25519_PUB_PREFIX + raw_public_key)


def parse_ed25519_multikey(value: str) -> bytes:
    """The raw 32-byte key of a `publicKeyMultibase`; BadRequest if it is not Ed25519."""
    decoded = decode_base58btc(value)
    if not decoded.startswith(ED25519_PUB_PREFIX) or len(decoded) != 34:
        raise BadRequest("publicKeyMultibase is not an Ed25519 multikey")
    return decoded[2:]
