"""Signers for outgoing requests: an actor's key bound to the signature library.

The guarded client calls a `Signer` once per hop with the scheme chosen for the host
(draft-cavage by default, RFC 9421 where the host is known to accept it).
"""

from __future__ import annotations

from collections.abc import Mapping

from fedserver.http import SignatureScheme, Signer
from fedserver.ids import Clock
from fedserver.signatures import PrivateKey, digest_header, sign_cavage, sign_rfc9421


def make_signer(key_id: str, private_key: PrivateKey, clock: Clock) -> Signer:
    # The `Digest` of the last body signed, kept with that body: a fan-out signs the
    # same bytes object for every inbox, so its SHA-256 is computed once, not per POST.
    # Identity, not equality, decides (bytes are immutable, and holding the reference
    # keeps its id from being reused); another body is digested afresh.
    last: list[tuple[bytes, str]] = []

    def sign(
        method: str, url: str, headers: Mapping[str, str], body: bytes, scheme: SignatureScheme, /
    ) -> dict[str, str]:
        if scheme == "rfc9421":
            return sign_rfc9421(
                method, url, headers, body, key_id=key_id, private_key=private_key, now=clock()
            )
        digest = None
        if body:
            if last and last[0][0] is body:
                digest = last[0][1]
            else:
                digest = digest_header(body)
                last[:] = [(body, digest)]
        return sign_cavage(
            method,
            url,
            headers,
            body,
            key_id=key_id,
            private_key=private_key,
            now=clock(),
            digest=digest,
        )

    return sign
