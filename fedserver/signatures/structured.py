"""The subset of RFC 8941 Structured Field Values that signatures need (pure).

RFC 9421 carries its signatures in two Dictionary fields (`Signature-Input`,
`Signature`) and RFC 9530 its digests in another (`Content-Digest`). This module
parses and serializes Dictionaries, Inner Lists, Items and Parameters with the bare
item types Integer, Decimal, String, Token, Byte Sequence and Boolean, following the
algorithms of https://www.rfc-editor.org/rfc/rfc8941#section-4 step by step.

It is deliberately stricter than RFC 8941 in one place: a Dictionary that repeats a
key is rejected instead of silently keeping the last value, because two
`sig1` members, or two `sha-256` digests, can only be an attempt to confuse a
verifier. Errors are `StructuredFieldError` (a `ValueError`); callers turn them into
the `FedError` that fits the header they were parsing.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from dataclasses import dataclass, field

__all__ = [
    "BareItem",
    "Dictionary",
    "InnerList",
    "Item",
    "Params",
    "StructuredFieldError",
    "Token",
    "parse_dictionary",
    "serialize_bare_item",
    "serialize_dictionary",
    "serialize_inner_list",
    "serialize_item",
    "serialize_params",
]


class StructuredFieldError(ValueError):
    """The text is not a valid Structured Field of the expected type."""


class Token(str):
    """An sf-token (`*foo/bar`), kept apart from an sf-string (`"foo"`)."""

    __slots__ = ()


BareItem = int | float | str | Token | bytes | bool
Params = dict[str, BareItem]


@dataclass(frozen=True, slots=True)
class Item:
    """A bare item with its parameters, e.g. `"@query-param";name="Pet"`."""

    value: BareItem
    params: Params = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InnerList:
    """A parenthesized list of items with parameters, e.g. `("@method");created=1`."""

    items: tuple[Item, ...]
    params: Params = field(default_factory=dict)


Dictionary = dict[str, Item | InnerList]

_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_BASE64 = re.compile(r"[A-Za-z0-9+/=]*")
# An sf-string of printable ASCII other than '"' and '\\', quotes included.
_PLAIN_STRING = re.compile(r'"([ !#-\[\]-~]*)"')
_MAX_INTEGER = 999_999_999_999_999

# Fast paths of `parse_dictionary` for the one-member Dictionaries that signatures and
# digests carry in practice (see `_parse_simple`).
#: `sig1=(<items>);created=1;keyid="k"` (`Signature-Input`): an Inner List with no
#: parenthesis inside, then parameters that are plain Strings or Integers (at most 15
#: digits: a 16th digit or a '.' makes the match fail, and `_Parser` decides). The
#: classes are ASCII-only except inside the Inner List, which `_Parser` reads.
_INNER_MEMBER = re.compile(
    r"([a-z*][a-z0-9_\-.*]*)=(\([^()]*\))"
    r'((?:;[a-z*][a-z0-9_\-.*]*=(?:"[ !#-\[\]-~]*"|-?[0-9]{1,15}))*)'
)
#: One `;key=value` of what `_INNER_MEMBER` matched (the value quotes included).
_SIMPLE_PARAM = re.compile(r';([a-z*][a-z0-9_\-.*]*)=("[ !#-\[\]-~]*"|-?[0-9]{1,15})')


class _Parser:
    """A cursor over the field value; one method per RFC 8941 parsing algorithm."""

    def __init__(self, text: str) -> None:
        if not text.isascii():
            raise StructuredFieldError("structured field contains non-ASCII characters")
        self.text = text.strip(" ")
        self.pos = 0

    def peek(self) -> str:
        # A slice is "" past the end: one expression, no length check (hot path).
        return self.text[self.pos : self.pos + 1]

    def fail(self, what: str) -> StructuredFieldError:
        return StructuredFieldError(f"{what} at character {self.pos + 1}")

    def skip(self, chars: str) -> None:
        text, pos, end = self.text, self.pos, len(self.text)
        while pos < end and text[pos] in chars:
            pos += 1
        self.pos = pos

    def dictionary(self) -> Dictionary:
        result: Dictionary = {}
        while self.pos < len(self.text):
            key = self.key()
            if key in result:
                raise self.fail(f"duplicate key {key!r}")
            if self.peek() == "=":
                self.pos += 1
                result[key] = self.item_or_inner_list()
            else:
                result[key] = Item(True, self.params())
            self.skip(" \t")
            if self.pos >= len(self.text):
                return result
            if self.peek() != ",":
                raise self.fail("expected ',' between dictionary members")
            self.pos += 1
            self.skip(" \t")
            if self.pos >= len(self.text):
                raise self.fail("trailing ',' in dictionary")
        return result

    def item_or_inner_list(self) -> Item | InnerList:
        if self.peek() == "(":
            return self.inner_list()
        return Item(self.bare_item(), self.params())

    def inner_list(self) -> InnerList:
        self.pos += 1  # "("
        items: list[Item] = []
        while True:
            self.skip(" ")
            if self.peek() == ")":
                self.pos += 1
                return InnerList(tuple(items), self.params())
            items.append(Item(self.bare_item(), self.params()))
            if self.peek() not in (" ", ")"):
                raise self.fail("expected ' ' or ')' in inner list")

    def params(self) -> Params:
        result: Params = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            key = self.key()
            value: BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            result[key] = value
        return result

    def key(self) -> str:
        match = _KEY.match(self.text, self.pos)
        if not match:
            raise self.fail("expected a key (lowercase letter or '*')")
        self.pos = match.end()
        return match.group()

    def bare_item(self) -> BareItem:
        char = self.peek()
        if char == "-" or char.isdigit():
            return self.number()
        if char == '"':
            return self.string()
        if char == ":":
            return self.byte_sequence()
        if char == "?":
            return self.boolean()
        if char.isalpha() or char == "*":
            match = _TOKEN.match(self.text, self.pos)
            assert match is not None  # the first character always matches
            self.pos = match.end()
            return Token(match.group())
        raise self.fail("expected an item")

    def number(self) -> int | float:
        match = _NUMBER.match(self.text, self.pos)
        if not match:
            raise self.fail("expected a number")
        text = match.group()
        whole = text.lstrip("-").split(".")[0]
        self.pos = match.end()
        if match.group(1) is None:
            if len(whole) > 15:
                raise self.fail("integer has more than 15 digits")
            return int(text)
        if len(whole) > 12 or len(match.group(1)) > 4:
            raise self.fail("decimal has more than 12 integer or 3 fractional digits")
        return float(text)

    def string(self) -> str:
        # Fast path: no escape and no control character before the closing quote
        # (every keyid and alg), which the loop below would return unchanged.
        plain = _PLAIN_STRING.match(self.text, self.pos)
        if plain is not None:
            self.pos = plain.end()
            return plain.group(1)
        self.pos += 1  # opening quote
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\":
                escaped = self.peek()
                if escaped not in ('"', "\\") or not escaped:
                    raise self.fail("invalid escape in string")
                out.append(escaped)
                self.pos += 1
            elif char == '"':
                return "".join(out)
            elif not " " <= char <= "~":
                raise self.fail("control character in string")
            else:
                out.append(char)
        raise self.fail("unterminated string")

    def byte_sequence(self) -> bytes:
        end = self.text.find(":", self.pos + 1)
        if end < 0:
            raise self.fail("unterminated byte sequence")
        content = self.text[self.pos + 1 : end]
        if not _BASE64.fullmatch(content):
            raise self.fail("byte sequence is not base64")
        self.pos = end + 1
        decoded = _decode_base64(content)
        if decoded is None:
            raise self.fail("byte sequence is not base64")
        return decoded

    def boolean(self) -> bool:
        value = self.text[self.pos + 1 : self.pos + 2]
        if value not in ("0", "1"):
            raise self.fail("boolean must be ?0 or ?1")
        self.pos += 2
        return value == "1"


def _decode_base64(content: str) -> bytes | None:
    """The bytes of a Byte Sequence's base64 (already checked against `_BASE64`), or
    None if it does not decode."""
    # RFC 8941 4.2.7: parsers SHOULD NOT fail when "=" padding is missing.
    stripped = content.rstrip("=")
    try:
        # What base64.b64decode(validate=True) does, without its argument handling.
        return binascii.a2b_base64(stripped + "=" * (-len(stripped) % 4), strict_mode=True)
    except binascii.Error:
        return None


@functools.lru_cache(maxsize=1024)
def _inner_list_items(text: str) -> tuple[Item, ...] | None:
    """The items of an Inner List without parameters, e.g. `("@method" "@path")`; None
    if `text` is not exactly one (`_Parser` then raises the error in context).

    Cached: the covered components of a peer's signatures are the same on every
    request, only the parameters after them (`created`) change. The Items are shared
    between calls; nothing may change their `params`.
    """
    try:
        parser = _Parser(text)
        if parser.text != text or parser.peek() != "(":
            return None
        inner = parser.inner_list()
    except StructuredFieldError:
        return None
    if parser.pos != len(text) or inner.params:
        return None
    return inner.items


def _parse_simple(text: str) -> Dictionary | None:
    """`_Parser(text).dictionary()` for the two shapes signatures and digests have in
    practice; None for anything else, and for anything invalid (`_Parser` then raises
    its error, with its position).

    * `key=:<base64>:` (`Signature`, `Content-Digest`): a Byte Sequence without
      parameters. Split with `str.partition`, not a regex: scanning a 344-character
      signature costs a regex more than the whole rest of the parse. The content needs
      no `_BASE64` match first: strict `a2b_base64` refuses every character outside
      that class (non-ASCII with a plain ValueError), ':' among them;
    * `key=(<items>);name=value...` (`Signature-Input`), see `_INNER_MEMBER`.
    """
    key, sep, rest = text.partition("=:")
    if sep and rest[-1:] == ":":
        if not _KEY.fullmatch(key):
            return None
        stripped = rest[:-1].rstrip("=")
        try:
            decoded = binascii.a2b_base64(stripped + "=" * (-len(stripped) % 4), strict_mode=True)
        except ValueError:  # binascii.Error, or a non-ASCII character
            return None
        return {key: Item(decoded)}
    match = _INNER_MEMBER.fullmatch(text)
    if match is not None:
        items = _inner_list_items(match.group(2))
        if items is None:
            return None
        params: Params = {}
        for key, value in _SIMPLE_PARAM.findall(match.group(3)):
            # A repeated key keeps its first position and its last value, as in _Parser.
            params[key] = value[1:-1] if value[0] == '"' else int(value)
        return {match.group(1): InnerList(items, params)}
    return None


def parse_dictionary(text: str) -> Dictionary:
    """Parse an sf-dictionary (RFC 8941 4.2.2), rejecting repeated keys.

    >>> parse_dictionary('sha-256=:AAAA:')
    {'sha-256': Item(value=b'\\x00\\x00\\x00', params={})}
    """
    simple = _parse_simple(text)
    return _Parser(text).dictionary() if simple is None else simple


def serialize_bare_item(value: BareItem) -> str:
    """RFC 8941 4.1.3.1; the type decides the syntax (bool before int: it is one)."""
    kind = type(value)
    if kind is str:  # the common case first (exact type: not a Token)
        return _serialize_string(str(value))
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        if abs(value) > _MAX_INTEGER:
            raise StructuredFieldError(f"integer {value} is out of range")
        return str(value)
    if isinstance(value, float):
        text = f"{round(value, 3):.3f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    if isinstance(value, Token):
        if not _TOKEN.fullmatch(value):
            raise StructuredFieldError(f"{value!r} is not a valid token")
        return str(value)
    return _serialize_string(value)


def _serialize_string(value: str) -> str:
    if not value.isascii() or not value.isprintable():
        raise StructuredFieldError(f"{value!r} cannot be an sf-string")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def serialize_params(params: Params) -> str:
    if not params:
        return ""
    out = []
    for key, value in params.items():
        if not _KEY.fullmatch(key):
            raise StructuredFieldError(f"{key!r} is not a valid key")
        out.append(f";{key}" if value is True else f";{key}={serialize_bare_item(value)}")
    return "".join(out)


def serialize_item(item: Item) -> str:
    return serialize_bare_item(item.value) + serialize_params(item.params)


def serialize_inner_list(inner: InnerList) -> str:
    """E.g. `("@method" "@target-uri");created=1618884473;keyid="test"`."""
    members = " ".join(serialize_item(item) for item in inner.items)
    return f"({members}){serialize_params(inner.params)}"


def serialize_dictionary(dictionary: Dictionary) -> str:
    out = []
    for key, member in dictionary.items():
        if not _KEY.fullmatch(key):
            raise StructuredFieldError(f"{key!r} is not a valid key")
        if isinstance(member, InnerList):
            out.append(f"{key}={serialize_inner_list(member)}")
        elif member.value is True:
            out.append(key + serialize_params(member.params))
        else:
            out.append(f"{key}={serialize_item(member)}")
    return ", ".join(out)
