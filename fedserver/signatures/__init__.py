"""HTTP signatures and object integrity proofs: pure crypto on `cryptography`.

No I/O of any kind: no network, no database, no files, no clock (`now` is always
a parameter), no aiohttp. Key lookup belongs to the caller (`inbox/verify.py`),
between `parse_request_signature` and `verify_signed_request`. Failures raise
`fedserver.errors` exceptions whose message says exactly what is wrong; nothing
returns None or False for a failure.

* `cavage`: draft-cavage-http-signatures-12, what the fediverse sends today;
* `rfc9421`: RFC 9421 HTTP Message Signatures (Mastodon 4.4+);
* `digests`: `Digest` (RFC 3230) and `Content-Digest` (RFC 9530);
* `proofs`: FEP-8b32 integrity proofs, cryptosuite `eddsa-jcs-2022`;
* `keys`: key types, PEM loading and generation.
"""

from fedserver.signatures.cavage import sign_cavage
from fedserver.signatures.digests import (
    check_content_digest,
    check_digest,
    content_digest_header,
    digest_header,
)
from fedserver.signatures.keys import (
    MIN_RSA_BITS,
    PrivateKey,
    PublicKey,
    check_public_key,
    ed25519_key_from_multikey,
    generate_ed25519_key,
    generate_rsa_key,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_multikey,
    public_key_pem,
)
from fedserver.signatures.model import Scheme, SignedRequest
from fedserver.signatures.proofs import (
    create_proof,
    proof_verification_method,
    verify_proof,
)
from fedserver.signatures.request import (
    parse_request_signature,
    verify_request,
    verify_signed_request,
)
from fedserver.signatures.rfc9421 import sign_rfc9421
from fedserver.signatures.timing import (
    check_time_window,
    format_http_date,
    parse_http_date,
)

__all__ = [
    "MIN_RSA_BITS",
    "PrivateKey",
    "PublicKey",
    "Scheme",
    "SignedRequest",
    "check_content_digest",
    "check_digest",
    "check_public_key",
    "check_time_window",
    "content_digest_header",
    "create_proof",
    "digest_header",
    "ed25519_key_from_multikey",
    "format_http_date",
    "generate_ed25519_key",
    "generate_rsa_key",
    "load_private_key",
    "load_public_key",
    "parse_http_date",
    "parse_request_signature",
    "private_key_pem",
    "proof_verification_method",
    "public_key_multikey",
    "public_key_pem",
    "sign_cavage",
    "sign_rfc9421",
    "verify_proof",
    "verify_request",
    "verify_signed_request",
]
