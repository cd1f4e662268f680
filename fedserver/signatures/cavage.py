"""draft-cavage-http-signatures-12, the HTTP signatures the fediverse actually sends.

Pure. Spec: https://datatracker.ietf.org/doc/html/draft-cavage-http-signatures-12
The rules are Mastodon's (`app/lib/signed_request.rb`), tightened by SECURITY.md R1:

* algorithms `rsa-sha256`, `hs2019` and none (the key type decides: RSA
  PKCS#1 v1.5 SHA-256, or Ed25519); anything else is refused;
* `(created)`/`(expires)` are refused with `rsa-sha256` (draft-12 section 2.3), and
  `created`/`expires` parameters count only when their pseudo-header is signed;
* without a `headers` parameter the signature covers `date` only (drafts up to 10,
  Mastodon and the appendix C.1 vector), not the `(created)` of draft-12;
* coverage: `date` or `(created)`; `(request-target)` or `digest`; `host` on GET;
  and on POST (PUT, PATCH, or any body) all of `(request-target)`, `host` and
  `digest`: a POST signature that leaves out the target could be replayed to
  another inbox of ours (R1 is stricter than Mastodon here; every peer in
  PEERS.md signs all three);
* `host` in the signing string is our configured host, never the `Host` header;
* quirk: a GET whose signature fails over the full `(request-target)` is retried
  without the query string, as Mastodon and GoToSocial do (GoToSocial signs its
  retries that way). A query string that differs still fails both tries.
"""

from __future__ import annotations

import binascii
import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fedserver.errors import SignatureInvalid, SignatureMalformed
from fedserver.signatures.algorithms import Algorithm, default_algorithm, key_type, sign_bytes
from fedserver.signatures.digests import digest_header
from fedserver.signatures.keys import PrivateKey, PublicKey
from fedserver.signatures.model import (
    BODY_METHODS,
    RequestView,
    SignedRequest,
    split_url,
)
from fedserver.signatures.timing import (
    format_http_date,
    from_timestamp,
    parse_http_date,
)

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "CavageSignature",
    "algorithms_for",
    "parse_cavage",
    "parse_signature_header",
    "sign_cavage",
    "signing_string",
]

SUPPORTED_ALGORITHMS = ("rsa-sha256", "hs2019")

# One `name="quoted \" value"` or `name=token` auth-param (RFC 9110 11.2). The
# quoted string is an unrolled loop: a 344-character signature matches in one pass.
_PARAM = re.compile(
    r"[ \t]*([A-Za-z][A-Za-z0-9_-]*)[ \t]*=[ \t]*"
    r'(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^\s",]+))[ \t]*'
)
# The start of a quoted auth-param, up to and including its opening quote: the fast
# path of `_parse_params` (see there).
_QUOTED_START = re.compile(r'[ \t]*([A-Za-z][A-Za-z0-9_-]*)[ \t]*=[ \t]*"')
_UNESCAPE = re.compile(r"\\(.)")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_INTEGER = re.compile(r"[0-9]{1,15}")
_DECIMAL = re.compile(r"[0-9]{1,15}(\.[0-9]{1,9})?")


@dataclass(frozen=True, slots=True)
class CavageSignature:
    """The parameters of a `Signature` header (draft-cavage-12 section 2.1)."""

    key_id: str
    algorithm: str | None
    headers: tuple[str, ...]
    signature: bytes
    created: str | None
    expires: str | None


def _parse_params(value: str) -> dict[str, str]:
    """The auth-params of a Signature header, in order; SignatureMalformed if the syntax
    is wrong or a parameter repeats.

    Each parameter is what `_PARAM` matches at its position. A quoted value without a
    backslash (every real one: a 344-character base64 signature among them) is found
    with `str.find` instead, which gives the same match: with no backslash, the
    quoted string ends at the first `"`. Anything else goes to `_PARAM` itself.
    """
    params: dict[str, str] = {}
    pos = 0
    end = len(value)
    while True:
        name: str | None = None
        start = _QUOTED_START.match(value, pos)
        if start is not None:
            opened = start.end()
            closed = value.find('"', opened)
            if closed != -1 and value.find("\\", opened, closed) == -1:
                name, text = start.group(1), value[opened:closed]
                pos = closed + 1
                while pos < end and value[pos] in " \t":
                    pos += 1
        if name is None:
            match = _PARAM.match(value, pos)
            if match is None:
                raise SignatureMalformed(
                    f'Signature header is malformed at character {pos + 1}: expected name="value"'
                )
            name, quoted, token = match.groups()
            if quoted is None:
                text = token
            else:
                text = _UNESCAPE.sub(r"\1", quoted) if "\\" in quoted else quoted
            pos = match.end()
        name = name.lower()
        if name in params:
            raise SignatureMalformed(f"Signature header repeats parameter {name!r}")
        params[name] = text
        if pos == end:
            return params
        if value[pos] != ",":
            raise SignatureMalformed(
                f"Signature header is malformed at character {pos + 1}: expected ','"
            )
        pos += 1


@functools.lru_cache(maxsize=1024)
def _header_names(value: str) -> tuple[str, ...]:
    """The lowercased names of a `headers` parameter; SignatureMalformed if it has none
    or repeats one. Cached: a peer signs the same list on every request."""
    names = value.split()
    if not names:
        raise SignatureMalformed(f"headers parameter {value!r} is malformed")
    lowered = tuple([name.lower() for name in names])
    if len(set(lowered)) != len(lowered):
        raise SignatureMalformed(f"headers parameter {value!r} repeats a name")
    return lowered


def _parse_simple_params(value: str) -> dict[str, str] | None:
    """`_parse_params(value)` for the header every peer sends, `name="value"` pairs
    joined by bare commas, with no whitespace between them and no backslash; None
    for anything else (a repeated name too), which `_parse_params` then reads.

    With no '"' inside a value, '",' can only end a pair, so splitting there gives
    the pairs; any other split leaves a part without `="` or with a '"' in its value,
    and returns None. `str` methods, not one regex: a regex steps through the
    344-character signature one character at a time.
    """
    if value[-1:] != '"' or "\\" in value:
        return None
    params: dict[str, str] = {}
    for part in value[:-1].split('",'):
        name, sep, text = part.partition('="')
        if not sep or '"' in text or not _NAME.fullmatch(name):
            return None
        name = name.lower()
        if name in params:
            return None
        params[name] = text
    return params


_Template = tuple[str, str | None, tuple[str, ...], str | None, str | None]


@functools.lru_cache(maxsize=1024)
def _parse_template(template: str) -> _Template | None:
    """Everything of a simple header but its signature, which `template` has emptied
    (`signature=""`): `(key_id, algorithm, headers, created, expires)`, checked as
    `parse_signature_header` checks them; None if anything is wrong or not simple
    (the full parse then raises its error, in its order).

    Cached: an actor signs with the same keyId, algorithm and headers every time;
    only the signature changes (and `created`/`expires`, for the few who send them).
    """
    params = _parse_simple_params(template)
    if params is None or params.get("signature") != "":
        return None
    key_id = params.get("keyid")
    if not key_id:
        return None
    try:
        headers = _header_names(params.get("headers", "date"))
    except SignatureMalformed:
        return None
    for param, pattern in (("created", _INTEGER), ("expires", _DECIMAL)):
        if param in params and not pattern.fullmatch(params[param]):
            return None
    algorithm = params.get("algorithm")
    return (
        key_id,
        None if algorithm is None else algorithm.lower(),
        headers,
        params.get("created"),
        params.get("expires"),
    )


def _parse_with_template(value: str) -> CavageSignature | None:
    """`parse_signature_header(value)` for a simple header (see `_parse_simple_params`)
    whose other parameters were seen before; None to take the full parse.

    The header without the signature's value is the template. In a simple header no
    value holds a '"', so `signature="` found at the start or after a ',' begins the
    `signature` pair and its value ends at the next '"'; the template, being simple,
    splits into the same pairs as the header. `_parse_template` checks that the pair
    it reads as `signature` is the one emptied.
    """
    start = value.find('signature="')
    if start == -1 or (start != 0 and value[start - 1] != ","):
        return None
    start += 11
    end = value.find('"', start)
    if end == -1 or "\\" in value:
        return None
    parsed = _parse_template(value[:start] + value[end:])
    if parsed is None or end == start:
        return None
    try:
        signature = binascii.a2b_base64(value[start:end], strict_mode=True)
    except ValueError:
        return None
    key_id, algorithm, headers, created, expires = parsed
    return CavageSignature(key_id, algorithm, headers, signature, created, expires)


def parse_signature_header(value: str) -> CavageSignature:
    """Parse `keyId="...",algorithm="...",headers="...",signature="..."`.

    Also takes the value of `Authorization: Signature ...`. Raises SignatureMalformed
    when the syntax is wrong, a parameter repeats, `keyId` or `signature` is
    missing, or the signature is not strict base64.
    """
    if value[:10].lower() == "signature ":
        value = value[10:]
    fast = _parse_with_template(value)
    return _parse_signature_params(value) if fast is None else fast


def _parse_signature_params(value: str) -> CavageSignature:
    """`parse_signature_header` without the template cache (the reference for it)."""
    params = _parse_simple_params(value)
    if params is None:
        params = _parse_params(value)
    key_id = params.get("keyid")
    if not key_id:
        raise SignatureMalformed("Signature header has no keyId")
    encoded = params.get("signature")
    if not encoded:
        raise SignatureMalformed("Signature header has no signature")
    try:
        # strict_mode: as strict as b64decode(validate=True), without its regex pass.
        signature = binascii.a2b_base64(encoded, strict_mode=True)
    except ValueError:  # binascii.Error, or a non-ASCII character in the value
        raise SignatureMalformed("signature is not valid base64") from None
    lowered = _header_names(params.get("headers", "date"))
    if "created" in params or "expires" in params:
        for param, pattern in (("created", _INTEGER), ("expires", _DECIMAL)):
            if param in params and not pattern.fullmatch(params[param]):
                raise SignatureMalformed(f"{param} parameter {params[param]!r} is not a number")
    algorithm = params.get("algorithm")
    return CavageSignature(
        key_id=key_id,
        algorithm=None if algorithm is None else algorithm.lower(),
        headers=lowered,
        signature=signature,
        created=params.get("created"),
        expires=params.get("expires"),
    )


def _check_coverage(request: RequestView, sig: CavageSignature) -> None:
    covered = set(sig.headers)
    method = request.method.upper()
    if "date" not in covered and "(created)" not in covered:
        raise SignatureInvalid("signed headers must include 'date' or '(created)'")
    if "(request-target)" not in covered and "digest" not in covered:
        raise SignatureInvalid("signed headers must include '(request-target)' or 'digest'")
    if method in ("GET", "HEAD") and "host" not in covered:
        raise SignatureInvalid(f"signed headers must include 'host' on {method}")
    if request.has_content:
        for name in ("digest", "(request-target)", "host"):
            if name not in covered:
                raise SignatureInvalid(f"signed headers must include {name!r} on {method}")


def signing_string(request: RequestView, sig: CavageSignature, *, with_query: bool = True) -> str:
    """The string the signature covers (draft-cavage-12 section 2.3).

    Raises SignatureInvalid naming a signed header the request does not carry.
    """
    lines = []
    for name in sig.headers:
        if name == "(request-target)":
            target = request.path_with_query if with_query else request.path
            value = f"{request.method.lower()} {target}"
        elif name in ("(created)", "(expires)"):
            param = sig.created if name == "(created)" else sig.expires
            if param is None:
                raise SignatureInvalid(
                    f"{name!r} is signed but the signature has no {name[1:-1]} parameter"
                )
            value = param
        elif name == "host":
            value = request.host  # ours, never the client's Host header (R1)
        else:
            field = request.field(name)
            if field is None:
                raise SignatureInvalid(f"header {name!r} is listed as signed but missing")
            value = field
        lines.append(f"{name}: {value}")
    return "\n".join(lines)


def _timestamp(value: str | None, name: str) -> datetime | None:
    return None if value is None else from_timestamp(float(value), name)


def parse_cavage(request: RequestView, header: str) -> SignedRequest:
    """Parse and check a draft-cavage signature; see the module docstring for rules."""
    sig = parse_signature_header(header)
    if sig.algorithm is not None and sig.algorithm not in SUPPORTED_ALGORITHMS:
        raise SignatureInvalid(f"algorithm {sig.algorithm!r} not supported (rsa-sha256, hs2019)")
    if sig.algorithm == "rsa-sha256":
        for name in ("(created)", "(expires)"):
            if name in sig.headers:
                raise SignatureInvalid(
                    f"{name!r} cannot be signed with algorithm 'rsa-sha256' "
                    "(draft-cavage-12 section 2.3)"
                )
    _check_coverage(request, sig)
    created = _timestamp(sig.created, "created") if "(created)" in sig.headers else None
    expires = _timestamp(sig.expires, "expires") if "(expires)" in sig.headers else None
    date_value = request.field("date") if "date" in sig.headers else None
    date = None if date_value is None else parse_http_date(date_value)
    start = created or date
    if expires is not None and start is not None and expires < start:
        raise SignatureInvalid("signature expires before it was created")
    try:
        messages = [signing_string(request, sig).encode("utf-8")]
        if (
            request.method.upper() in ("GET", "HEAD")
            and "(request-target)" in sig.headers
            and request.query
        ):
            quirk = signing_string(request, sig, with_query=False)
            messages.append(quirk.encode("utf-8"))
    except UnicodeEncodeError:
        raise SignatureInvalid("signed headers are not valid text") from None
    return SignedRequest(
        scheme="draft-cavage-12",
        key_id=sig.key_id,
        algorithm=sig.algorithm,
        covered=sig.headers,
        created=created,
        expires=expires,
        date=date,
        signature=sig.signature,
        messages=tuple(messages),
    )


def algorithms_for(declared: str | None, key: PublicKey | PrivateKey) -> tuple[Algorithm, ...]:
    """The algorithm a draft-cavage signature means with this key (one, as a tuple).

    `rsa-sha256` needs an RSA key; `hs2019` or none means RSA PKCS#1 v1.5 SHA-256
    for an RSA key (Mastodon, GoToSocial) and Ed25519 for an Ed25519 key.
    """
    family = key_type(key)  # cached per key class: this runs on every request
    if declared == "rsa-sha256" and family != "RSA":
        raise SignatureInvalid("algorithm 'rsa-sha256' needs an RSA key")
    if family == "EC P-256":
        raise SignatureInvalid("draft-cavage signatures with EC keys are not supported")
    return (default_algorithm(key),)


#: The last HTTP date formatted, by second: a fan-out signs hundreds of requests in the
#: same second, and `format_datetime` costs more than the rest of the headers.
_date_cache: tuple[int, str] = (-1, "")


def _signing_date(now: datetime) -> str:
    """`format_http_date(now)`, formatted once per second."""
    global _date_cache
    if now.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    second = math.floor(now.timestamp())
    cached_second, text = _date_cache
    if second != cached_second:
        text = format_http_date(now)
        _date_cache = (second, text)
    return text


@functools.lru_cache(maxsize=4096)
def _signing_target(url: str) -> tuple[str, str]:
    """`(host, path_with_query)` of `split_url(url)`: cached, since a fan-out signs for the
    same inboxes post after post (raises ValueError, not cached, as split_url does)."""
    _, host, target = split_url(url)
    return host, target


def sign_cavage(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    key_id: str,
    private_key: PrivateKey,
    now: datetime,
    digest_on_get: bool = False,
    extra_signed: Sequence[str] = (),
    digest: str | None = None,
) -> dict[str, str]:
    """Sign a request with the profile every peer accepts (PEERS.md).

    POST (or any body): `(request-target) host date digest`, with
    `Digest: SHA-256=...`; GET: `(request-target) host date`, plus an empty-body
    `digest` when `digest_on_get` (as snac does). RSA keys sign as `rsa-sha256`,
    Ed25519 keys as `hs2019`. `headers` are the other headers the request will
    carry; only the names in `extra_signed` (e.g. `content-type`, as bovine does)
    are read from it. Returns `Date`, `Host`, `Digest` (when signed) and
    `Signature`: merge them over `headers`.

    `digest` is the `Digest` value of `body` when the caller has it already
    (`digest_header(body)`, computed once for every inbox of a fan-out); it is taken
    as given, so it must be of this very body (a wrong one makes the receiver refuse
    the request). None computes it here.

    >>> from datetime import UTC
    >>> from fedserver.signatures.keys import generate_rsa_key
    >>> out = sign_cavage("POST", "https://b.example/inbox", {}, b"{}",
    ...     key_id="https://a.example/actor#main-key", private_key=generate_rsa_key(),
    ...     now=datetime(2024, 1, 1, tzinfo=UTC))
    >>> sorted(out)
    ['Date', 'Digest', 'Host', 'Signature']
    """
    if '"' in key_id or "\\" in key_id:
        raise ValueError(f"key id {key_id!r} cannot be quoted")
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        raise ValueError("draft-cavage signing with an EC key is not supported")
    host, target = _signing_target(url)
    date = _signing_date(now)
    out = {"Date": date, "Host": host}
    values = {
        "(request-target)": f"{method.lower()} {target}",
        "host": host,
        "date": date,
    }
    if method.upper() in BODY_METHODS or body or digest_on_get:
        if digest is None:
            digest = digest_header(body or b"")
        elif "\n" in digest or "\r" in digest:
            raise ValueError(f"digest {digest!r} is not a header value")
        out["Digest"] = values["digest"] = digest
    if extra_signed:
        lookup = {name.lower(): value for name, value in headers.items()}
        for name in extra_signed:
            lowered = name.lower()
            if lowered not in values:
                if lowered not in lookup:
                    raise ValueError(f"header {name!r} to sign is not in headers")
                values[lowered] = lookup[lowered]
    text = "\n".join([f"{name}: {value}" for name, value in values.items()])
    signature = sign_bytes(default_algorithm(private_key), private_key, text.encode())
    algorithm = "rsa-sha256" if isinstance(private_key, rsa.RSAPrivateKey) else "hs2019"
    out["Signature"] = (
        f'keyId="{key_id}",algorithm="{algorithm}",'
        f'headers="{" ".join(values)}",'
        f'signature="{binascii.b2a_base64(signature, newline=False).decode("ascii")}"'
    )
    return out
