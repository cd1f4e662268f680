"""RFC 9421 HTTP Message Signatures, for requests (pure).

Spec: https://www.rfc-editor.org/rfc/rfc9421. Mastodon verifies these since 4.4
(`Signature-Input` + `Signature`, with RFC 9530 `Content-Digest`). Rules:

* `keyid` and `created` are required; `expires` is honoured, capped at 12 h
  (see `timing`); `alg` is optional, and when absent the key type decides
  (RSA: `rsa-v1_5-sha256` as Mastodon assumes, then `rsa-pss-sha512`);
* algorithms: `rsa-v1_5-sha256`, `rsa-pss-sha512`, `ecdsa-p256-sha256` (raw
  r||s), `ed25519`; HMAC and anything else are refused;
* coverage: `@method`, and `@target-uri` or `@authority` + `@path` (+ `@query`
  when the request has a query string), and `content-digest` on POST, PUT, PATCH
  or any request with a body;
* `@authority`, and a covered `host` field, are our configured host (R1);
  `@target-uri` is the caller's full URL of the request;
* several signatures: members of `Signature-Input` are tried in order and the
  first that has a `Signature` member and meets the rules above is verified; the
  others are ignored (they may be a proxy's, as in RFC 9421 section 4.3). If none
  qualifies, the reason the first one failed is raised.

Supported component parameters: `name` on `@query-param` only; `sf`, `key`, `bs`,
`req` and `tr` are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from fedserver.errors import SignatureInvalid, SignatureMalformed
from fedserver.signatures.algorithms import (
    ALGORITHMS,
    Algorithm,
    default_algorithm,
    key_fits,
    key_type,
    sign_bytes,
)
from fedserver.signatures.digests import content_digest_header
from fedserver.signatures.keys import PrivateKey, PublicKey
from fedserver.signatures.model import (
    BODY_METHODS,
    RequestView,
    SignedRequest,
    split_url,
)
from fedserver.signatures.structured import (
    InnerList,
    Item,
    StructuredFieldError,
    Token,
    parse_dictionary,
    serialize_dictionary,
    serialize_item,
    serialize_params,
)
from fedserver.signatures.timing import from_timestamp, parse_http_date

__all__ = [
    "Message",
    "algorithms_for",
    "parse_rfc9421",
    "parse_signatures",
    "sign_rfc9421",
    "signature_base",
]


@dataclass(frozen=True, slots=True)
class Message:
    """What components are resolved from: a request, or (for tests) a response."""

    #: Lowercased header name -> every value, in order.
    fields: Mapping[str, list[str]] = field(default_factory=dict)
    method: str | None = None
    target_uri: str | None = None
    authority: str | None = None
    path_with_query: str | None = None
    status: int | None = None


def _request_message(request: RequestView) -> Message:
    return Message(
        fields=request.fields,
        method=request.method,
        target_uri=request.target_uri,
        authority=request.host,
        path_with_query=request.path_with_query,
    )


def _query_param(message: Message, name: object) -> str | None:
    if not isinstance(name, str) or message.path_with_query is None:
        return None
    # RFC 9421 2.2.8: decode as application/x-www-form-urlencoded, re-encode
    # with %20 for spaces.
    query = message.path_with_query.partition("?")[2]
    values = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == unquote(name)]
    if len(values) != 1:
        return None
    return quote(values[0], safe="")


def _derived(message: Message, item: Item) -> str | None:
    name = str(item.value)
    target = message.path_with_query
    # partition, not urlsplit: a target like "//x/y" is a path, not a netloc.
    path, _, query = (target or "").partition("?")
    match name:
        case "@method":
            return message.method
        case "@target-uri":
            return message.target_uri
        case "@authority":
            return message.authority
        case "@scheme":
            uri = message.target_uri
            return None if uri is None else urlsplit(uri).scheme.lower()
        case "@request-target":
            return target
        case "@path":
            return None if target is None else path or "/"
        case "@query":
            return None if target is None else "?" + query
        case "@query-param":
            return _query_param(message, item.params.get("name"))
        case "@status":
            return None if message.status is None else str(message.status)
    raise SignatureInvalid(f"component {name!r} not supported")


#: Identifier (`"@method"`) of each plain component name seen: a lowercase sf-string
#: without parameters, which is what every peer covers. Bounded; a name that does not
#: qualify is never put here and takes the full checks in `_component_value`.
_PLAIN_IDENTIFIERS: dict[str, str] = {}
_MAX_PLAIN_IDENTIFIERS = 1024


def _plain_identifier(item: Item) -> str | None:
    """`serialize_item(item)` if `item` is a plain lowercase component name, else None."""
    name = item.value
    if type(name) is not str or item.params:  # exact type: a Token is not a name
        return None
    identifier = _PLAIN_IDENTIFIERS.get(name)
    if identifier is None:
        if name != name.lower():
            return None
        identifier = serialize_item(item)
        if len(_PLAIN_IDENTIFIERS) < _MAX_PLAIN_IDENTIFIERS:
            _PLAIN_IDENTIFIERS[name] = identifier
    return identifier


def _component_value(message: Message, item: Item, plain: bool = False) -> str:
    """The value of a covered component; `plain` when `_plain_identifier(item)` is not
    None (the name checks are then already done)."""
    name = item.value
    if not plain:
        if not isinstance(name, str) or isinstance(name, Token) or name != name.lower():
            raise SignatureMalformed(f"component {serialize_item(item)} is not a lowercase string")
        # `name` on @query-param only, and nothing else anywhere.
        query_param = name == "@query-param"
        if set(item.params) != {"name"} if query_param else bool(item.params):
            raise SignatureInvalid(f"component parameters {serialize_item(item)} not supported")
    assert isinstance(name, str)
    if name[:1] == "@":
        value = _derived(message, item)
    elif name == "host" and message.authority is not None:
        value = message.authority  # ours, never the client's Host header (R1)
    else:
        values = message.fields.get(name)
        value = None if values is None else ", ".join(values)
    if value is None:
        raise SignatureInvalid(
            f"covered component {serialize_item(item)} is missing from the request"
        )
    # isprintable() alone is the common case; a tab is allowed too.
    if not value.isascii() or not (value.isprintable() or value.replace("\t", " ").isprintable()):
        raise SignatureInvalid(f"covered component {serialize_item(item)} is not ASCII")
    return value


def signature_base(inner: InnerList, message: Message) -> bytes:
    """The signature base of RFC 9421 section 2.5, exactly as signed.

    Raises SignatureInvalid if a component is missing, repeated or unsupported.
    """
    return _signature_base(inner, message)[0]


def _signature_base(inner: InnerList, message: Message) -> tuple[bytes, str]:
    """The signature base, and the serialized signature parameters it ends with (the
    signer's `Signature-Input` member, so that it is serialized once)."""
    lines = []
    identifiers: list[str] = []
    seen = set()
    for item in inner.items:
        identifier = _plain_identifier(item)
        plain = identifier is not None
        if identifier is None:
            identifier = serialize_item(item)
        if identifier in seen:
            raise SignatureInvalid(f"component {identifier} is covered twice")
        seen.add(identifier)
        identifiers.append(identifier)
        lines.append(f"{identifier}: {_component_value(message, item, plain)}")
    try:
        # serialize_inner_list(inner), reusing the identifiers serialized above.
        params = f"({' '.join(identifiers)}){serialize_params(inner.params)}"
    except StructuredFieldError as exc:
        raise SignatureMalformed(f"signature parameters are malformed: {exc}") from None
    lines.append(f'"@signature-params": {params}')
    return "\n".join(lines).encode("ascii"), params


def parse_signatures(signature_input: str, signature: str) -> list[tuple[str, InnerList, bytes]]:
    """Pair each `Signature-Input` member with its `Signature` bytes, in order.

    Members with no signature are left out. Raises SignatureMalformed if either
    header is not a Dictionary of the right member types.
    """
    try:
        inputs = parse_dictionary(signature_input)
        signatures = parse_dictionary(signature)
    except StructuredFieldError as exc:
        raise SignatureMalformed(
            f"Signature-Input or Signature is not a structured-field dictionary: {exc}"
        ) from None
    pairs = []
    for label, inner in inputs.items():
        if not isinstance(inner, InnerList):
            raise SignatureMalformed(f"Signature-Input {label!r} is not an inner list")
        member = signatures.get(label)
        if member is None:
            continue
        if not isinstance(member, Item) or not isinstance(member.value, bytes):
            raise SignatureMalformed(f"Signature {label!r} is not a byte sequence")
        pairs.append((label, inner, member.value))
    return pairs


def _names(inner: InnerList) -> list[str]:
    return [
        # A plain sf-string without parameters (every real one) is its own name.
        item.value
        if type(item.value) is str and not item.params
        else str(item.value) + serialize_params(item.params)
        for item in inner.items
    ]


@dataclass(frozen=True, slots=True)
class _Params:
    key_id: str
    created: int
    expires: int | None
    alg: str | None


def _check(request: RequestView, label: str, inner: InnerList, covered: tuple[str, ...]) -> _Params:
    """Raise SignatureInvalid unless signature `label` meets the module's rules.

    `covered` is `_names(inner)`, computed once by the caller."""
    params = inner.params
    key_id = params.get("keyid")
    if not isinstance(key_id, str) or isinstance(key_id, Token) or not key_id:
        raise SignatureInvalid(f"signature {label!r} has no keyid parameter")
    created = params.get("created")
    expires = params.get("expires")
    for name, value in (("created", created), ("expires", expires)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise SignatureInvalid(f"signature {label!r} {name} is not an integer")
    if not isinstance(created, int):
        raise SignatureInvalid(f"signature {label!r} has no created parameter")
    alg = params.get("alg")
    if alg is not None and alg not in ALGORITHMS:
        raise SignatureInvalid(f"algorithm {alg!r} not supported")
    names = set(covered)
    required = ["@method"]
    if "@target-uri" not in names:
        required += ["@authority", "@path"] + (["@query"] if request.query else [])
    if request.has_content:
        required.append("content-digest")
    for name in required:
        if name not in names:
            raise SignatureInvalid(
                f"signature {label!r} does not cover {name!r} "
                f"(required on {request.method.upper()})"
            )
    if isinstance(expires, int) and expires < created:
        raise SignatureInvalid(f"signature {label!r} expires before it was created")
    return _Params(
        key_id=key_id,
        created=created,
        expires=expires if isinstance(expires, int) else None,
        alg=None if alg is None else str(alg),
    )


def parse_rfc9421(request: RequestView) -> SignedRequest:
    """Choose, check and prepare the RFC 9421 signature of a request."""
    pairs = parse_signatures(
        request.field("signature-input") or "", request.field("signature") or ""
    )
    if not pairs:
        raise SignatureInvalid("no Signature-Input member has a matching Signature")
    first_error: SignatureInvalid | None = None
    for label, inner, signature in pairs:
        names = tuple(_names(inner))
        try:
            params = _check(request, label, inner, names)
        except SignatureInvalid as exc:
            first_error = first_error or exc
            continue
        date_value = request.field("date") if "date" in names else None
        expires = params.expires
        return SignedRequest(
            scheme="rfc9421",
            key_id=params.key_id,
            algorithm=params.alg,
            covered=names,
            created=from_timestamp(params.created, "created"),
            expires=None if expires is None else from_timestamp(expires, "expires"),
            date=None if date_value is None else parse_http_date(date_value),
            signature=signature,
            messages=(signature_base(inner, _request_message(request)),),
            label=label,
        )
    assert first_error is not None
    raise first_error


def algorithms_for(declared: str | None, key: PublicKey | PrivateKey) -> tuple[Algorithm, ...]:
    """The algorithms to try: `alg` when given (it must fit the key), else the key's.

    An RSA key without `alg` is tried with `rsa-v1_5-sha256` (what Mastodon
    sends) and then `rsa-pss-sha512`: an RSA public key does not say which one it
    is for (RFC 9421 B.1.2's PSS key is published as plain `rsaEncryption`), and
    both are sound with the same key.
    """
    if declared is None:
        implied = default_algorithm(key)
        if implied == "rsa-v1_5-sha256":
            return ("rsa-v1_5-sha256", "rsa-pss-sha512")
        return (implied,)
    for algorithm in ALGORITHMS:
        if algorithm == declared:
            if not key_fits(algorithm, key):
                raise SignatureInvalid(
                    f"algorithm {declared!r} does not match the {key_type(key)} key"
                )
            return (algorithm,)
    raise SignatureInvalid(f"algorithm {declared!r} not supported")


def sign_rfc9421(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    key_id: str,
    private_key: PrivateKey,
    now: datetime,
    label: str = "sig1",
    algorithm: Algorithm | None = None,
) -> dict[str, str]:
    """Sign a request per RFC 9421 the way Mastodon verifies it.

    Covers `@method` and `@target-uri`, plus `content-digest` (added as
    `Content-Digest: sha-256=:...:`) and `content-type` (when in `headers`) on
    requests with a body; parameters `created`, `keyid` and `alg` (the key's
    default, or `algorithm`, e.g. "rsa-pss-sha512"). Returns `Content-Digest`
    (when signed), `Signature-Input` and `Signature`: merge them over `headers`.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    scheme, host, target = split_url(url)
    method = method.upper()
    try:
        alg = algorithms_for(algorithm, private_key)[0]
    except SignatureInvalid as exc:  # our own key and choice: a bug, not a 401
        raise ValueError(exc.detail) from None
    out: dict[str, str] = {}
    fields = {name.lower(): [value] for name, value in headers.items()}
    covered = ["@method", "@target-uri"]
    if method in BODY_METHODS or body:
        out["Content-Digest"] = content_digest_header(body or b"")
        fields["content-digest"] = [out["Content-Digest"]]
        covered.append("content-digest")
        if "content-type" in fields:
            covered.append("content-type")
    created = int(now.timestamp())
    inner = InnerList(
        tuple(Item(name) for name in covered),
        {"created": created, "keyid": key_id, "alg": alg},
    )
    message = Message(
        fields=fields,
        method=method,
        target_uri=f"{scheme}://{host}{target}",
        authority=host,
        path_with_query=target,
    )
    base, params = _signature_base(inner, message)
    signature = sign_bytes(alg, private_key, base)
    # serialize_dictionary checks the label; the inner list was serialized for the base.
    out["Signature"] = serialize_dictionary({label: Item(signature)})
    out["Signature-Input"] = f"{label}={params}"
    return out
