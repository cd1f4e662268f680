"""Our RFC 8941 subset parser, checked against `http_sf` (an independent one)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import http_sf
import pytest

from fedserver.signatures.structured import (
    InnerList,
    Item,
    StructuredFieldError,
    Token,
    parse_dictionary,
    serialize_dictionary,
)

VALID = [
    'sig1=("@method" "@target-uri");created=1618884473;keyid="test-key-rsa"',
    'sig-b22=("@authority" "content-digest" "@query-param";name="Pet")'
    ';created=1618884473;keyid="test-key-rsa-pss";tag="header-example"',
    "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, sha-512=:AAAA:",
    'a=("x" tok;p=1.5);created=1, b=:AAAA:, c, d=?0, e=-12.125, f=*tok/x:y',
    "a=()  ,   b=( 1  2 );x",
    'x="quote \\" and \\\\ backslash"',
    "  padded=1  ",
    "a;p=?1;q=tok",
    "",
]

INVALID = [
    "SHA-256=:AAAA:",
    "a=",
    "a=1,",
    "a=1 b=2",
    'a="unterminated',
    'a="bad \\n escape"',
    "a=:not base64*:",
    "a=(1 2",
    "a=(1,2)",
    "a=1234567890123456",
    "a=1.2345",
    "a=?2",
    "a=1, a=2",  # RFC 8941 keeps the last; we refuse (see the module docstring)
    "a=é",
    "a=@1659578233",
]


def from_http_sf(value: Any) -> Any:
    """http_sf's (value, params) tuples in our Item / InnerList shape."""
    bare, params = value
    params = {k: from_bare(v) for k, v in params.items()}
    if isinstance(bare, list):
        return InnerList(tuple(from_http_sf(member) for member in bare), params)
    return Item(from_bare(bare), params)


def from_bare(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if type(value).__name__ == "Token":
        return Token(str(value))
    return value


@pytest.mark.parametrize("text", VALID)
def test_parse_agrees_with_http_sf(text: str) -> None:
    ours = parse_dictionary(text)
    theirs: Any = http_sf.parse(text.encode(), tltype="dictionary")
    assert ours == {key: from_http_sf(value) for key, value in theirs.items()}
    for item in ours.values():
        members = item.items if isinstance(item, InnerList) else (item,)
        for member in members:
            if type(member.value).__name__ == "Token":
                assert isinstance(member.value, Token)


@pytest.mark.parametrize("text", [text for text in VALID if text])
def test_serialize_agrees_with_http_sf(text: str) -> None:
    theirs = http_sf.ser(http_sf.parse(text.encode(), tltype="dictionary"))
    assert serialize_dictionary(parse_dictionary(text)) == theirs


@pytest.mark.parametrize("text", INVALID)
def test_invalid_is_refused(text: str) -> None:
    with pytest.raises(StructuredFieldError):
        parse_dictionary(text)


def test_tokens_and_strings_stay_apart() -> None:
    parsed = parse_dictionary('a=tok, b="tok"')
    assert parsed["a"] == Item(Token("tok"))
    assert isinstance(parsed["a"], Item)
    assert isinstance(parsed["a"].value, Token)
    assert isinstance(parsed["b"], Item)
    assert not isinstance(parsed["b"].value, Token)


def test_missing_base64_padding_tolerated() -> None:
    """RFC 8941 4.2.7: parsers SHOULD NOT fail when '=' padding is missing."""
    assert parse_dictionary("a=:AAA:") == {"a": Item(b"\x00\x00")}


def test_serialize_refuses_what_cannot_be_sent() -> None:
    for bad in ({"Bad": Item(1)}, {"a": Item("line\nbreak")}, {"a": Item(10**15)}):
        with pytest.raises(StructuredFieldError):
            serialize_dictionary(bad)  # type: ignore[arg-type]
