"""fedserver.jsoncodec gives the same answers through orjson and through the standard
library, and refuses the same hostile documents (SECURITY.md R8) on both paths."""

from __future__ import annotations

import json
from typing import Any

import orjson  # a test dependency (pyproject.toml), whatever the server has installed
import pytest

from fedserver import jsoncodec


@pytest.fixture(params=["orjson", "stdlib"])
def codec(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs through both paths, set here rather than taken from the install."""
    monkeypatch.setattr(jsoncodec, "orjson", orjson if request.param == "orjson" else None)
    return str(request.param)


DOCUMENT: dict[str, Any] = {
    "@context": ["https://www.w3.org/ns/activitystreams", {"toot": "http://joinmastodon.org/ns#"}],
    "id": "https://example.org/users/a/statuses/1",
    "content": '<p>héllo ✨ "quoted" \\ </p>',
    "n": [1, -2, 3.5, True, False, None],
    "empty": {},
}


def test_round_trip_is_the_same_document(codec: str) -> None:
    encoded = jsoncodec.dumps_bytes(DOCUMENT)
    assert jsoncodec.loads(encoded) == DOCUMENT
    assert json.loads(encoded) == DOCUMENT
    assert jsoncodec.dumps(DOCUMENT) == encoded.decode("utf-8")
    # Non-ASCII is written as itself, compact, as Mastodon writes it.
    assert "héllo ✨".encode() in encoded
    assert b", " not in encoded


@pytest.mark.parametrize(
    "body",
    [
        b"\xef\xbb\xbf{}",  # a BOM
        b'{"a": "\xff"}',  # not UTF-8
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": 1',
        b"[" * 5000 + b"]" * 5000,  # deeper than either parser goes
        b"",
    ],
)
def test_hostile_documents_are_value_errors(codec: str, body: bytes) -> None:
    with pytest.raises(ValueError, match=r".") as caught:
        jsoncodec.loads(body)
    assert str(caught.value)


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        (b'{"a": "\xff"}', jsoncodec.NotUtf8),
        (b"[" * 5000 + b"]" * 5000, jsoncodec.TooDeep),
        (b'{"a": NaN}', ValueError),
    ],
)
def test_the_reason_is_the_same_on_both_paths(
    codec: str, body: bytes, refusal: type[ValueError]
) -> None:
    """Callers tell their peers why (fedserver/http/bodies.py): the kind of refusal does
    not depend on which parser ran."""
    with pytest.raises(refusal) as caught:
        jsoncodec.loads(body)
    if refusal is ValueError:
        assert not isinstance(caught.value, jsoncodec.NotUtf8 | jsoncodec.TooDeep)
