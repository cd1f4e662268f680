"""The parsing fast paths agree with the full parsers they shortcut, on every input.

`structured._parse_simple`, `cavage._parse_simple_params` and
`cavage._parse_with_template` return None for anything they do not handle; when they
return something it must be exactly what the full parse gives, and when the full
parse fails, so must the public function, with the same error.
"""

from __future__ import annotations

import base64

import pytest

from fedserver.errors import SignatureMalformed
from fedserver.signatures import cavage, structured
from fedserver.signatures.structured import StructuredFieldError

SIG = base64.b64encode(bytes(range(256))).decode()

DICTIONARIES = [
    f"sig1=:{SIG}:",
    "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
    "a=:AAAA",  # unterminated
    "a=:AA A:",
    "a=:AA:A:",
    "a=:AAA:",  # padding missing: accepted
    "a=:AA=A:",  # '=' inside: refused
    "a=:=:",
    "a=::",
    "A=:AAAA:",
    "a=:AAAA:;p=1",
    "a=:AAAA:, b=:AAAA:",
    "a=:AAé:",
    " a=:AAAA:",
    'sig1=("@method" "@target-uri" "content-digest");created=1;keyid="k";alg="rsa-v1_5-sha256"',
    'sig1=("@method");created=1;created=2;keyid="k"',
    'sig1=("@method");created=-0012',
    'sig1=("@method");created=1234567890123456',
    'sig1=("@method");created=1.5',
    'sig1=("@method");keyid="a;b=1";created=1',
    'sig1=("@method");keyid=";x"',
    'sig1=("@method");keyid="a\\"b"',
    'sig1=("@method");keyid=tok',
    'sig1=("@method");flag',
    'sig1=("@method"  "@path")',
    'sig1=( "@method")',
    'sig1=("@method" );created=1',
    'sig1=("@query-param";name="Pet" "@method");created=1',
    'sig1=("a)";created=1',
    'sig1=("a" tok 1 ?0 :AAAA:)',
    'sig1=("@method"),sig2=("@path")',
    'sig1=("é");created=1',
    "sig1=()",
    "sig1=();created=1",
    'sig1=("@method")extra',
]


def full(text: str) -> object:
    try:
        return structured._Parser(text).dictionary()
    except StructuredFieldError as exc:
        return ("error", str(exc))


def public(text: str) -> object:
    try:
        return structured.parse_dictionary(text)
    except StructuredFieldError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("text", DICTIONARIES)
def test_structured_fast_path_agrees(text: str) -> None:
    fast = structured._parse_simple(text)
    if fast is not None:
        assert fast == full(text)
    assert public(text) == full(text)


def test_structured_fast_path_taken_for_real_headers() -> None:
    assert structured._parse_simple(DICTIONARIES[0]) is not None
    assert structured._parse_simple(DICTIONARIES[14]) is not None


HEADERS = [
    f'keyId="https://a.example/u#k",algorithm="rsa-sha256",headers="(request-target) host'
    f' date digest",signature="{SIG}"',
    f'signature="{SIG}",keyId="k"',
    f'Signature="{SIG}",keyId="k"',
    f'keyId="k",signature="{SIG}",created="1",expires="2.5",headers="(created) (expires)"',
    f'keyId="k",signature="{SIG}",created="x",headers="(created)"',
    f'keyId="k",signature="{SIG}",headers=""',
    f'keyId="k",signature="{SIG}",headers="date DATE"',
    f'keyId="k",signature="{SIG}",keyid="j"',
    f'keyId="k",signature="{SIG}",signature="{SIG}"',
    f'keyId="",signature="{SIG}"',
    f'algorithm="hs2019",signature="{SIG}"',
    'keyId="k",signature=""',
    'keyId="k",signature="not base64!"',
    f'keyId="x,signature=",algorithm="rsa",signature="{SIG}"',
    f'keyId="x,signature=",signature="{SIG}"',
    f'keyId="a\\"b",signature="{SIG}"',
    f'keyId="k", signature="{SIG}"',
    f'keyId="k",signature="{SIG}",',
    f'keyId="k",mysignature="",signature="{SIG}"',
    f'keyId=k,signature="{SIG}"',
    f'keyId="k",signature="{SIG}" ',
    f'keyId="ké",signature="{SIG}"',
    f'keyId="k",signature="{SIG[:-2]}"',
]


def parse(header: str, parser: object) -> object:
    try:
        return parser(header)  # type: ignore[operator]
    except SignatureMalformed as exc:
        return ("error", exc.detail)


@pytest.mark.parametrize("header", HEADERS)
def test_cavage_fast_paths_agree(header: str) -> None:
    simple = cavage._parse_simple_params(header)
    if simple is not None:
        assert simple == cavage._parse_params(header)
    for _ in range(2):  # the second time from the template cache
        fast = cavage._parse_with_template(header)
        whole = parse(header, cavage._parse_signature_params)
        if fast is not None:
            assert fast == whole
        assert parse(header, cavage.parse_signature_header) == whole
    reference = cavage._parse_template.__wrapped__  # no cache: the same answers
    template = header.replace(SIG, "")
    assert reference(template) == cavage._parse_template(template)


def test_cavage_template_path_taken_for_real_headers() -> None:
    assert cavage._parse_with_template(HEADERS[0]) is not None
    assert cavage._parse_with_template(HEADERS[1]) is not None
    # keyId's value ends in ",signature=": the template is not simple.
    assert cavage._parse_with_template(HEADERS[13]) is None
