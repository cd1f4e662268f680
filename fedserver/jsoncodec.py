"""JSON in and out, through orjson when it is installed (the `speedups` extra).

orjson parses about 3x and encodes about 10x faster than the standard library, which
matters on the two hot paths: every inbox POST is parsed, every API page is encoded
(bench/RESULTS.md). The server runs the same without it; both paths give the same
answers to the same valid input. On hostile input both are strict: UTF-8 only (no BOM,
no lone surrogates in orjson), no NaN or Infinity, and nesting beyond what either parser
allows is a ValueError like any other malformed document (SECURITY.md R8).
"""

from __future__ import annotations

import json
from typing import Any

try:  # pragma: no cover - which branch runs depends on the installed extras
    import orjson
except ImportError:  # pragma: no cover
    orjson = None  # type: ignore[assignment]

#: True when orjson does the work (reported by `fedserver check-config` and the bench).
ACCELERATED = orjson is not None


class NotUtf8(ValueError):
    """The bytes are not UTF-8 (the message says where)."""


class TooDeep(ValueError):
    """Nested deeper than the parser goes (SECURITY.md R8)."""


def loads(data: bytes) -> Any:
    """A JSON value from strict UTF-8 bytes; ValueError, with the reason, for anything
    else (NotUtf8 and TooDeep for those two reasons, whichever parser ran)."""
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            # Only on the error path: say why in the same terms as the standard library.
            # orjson's own message for nesting is "depth limit exceeded".
            _check_utf8(data)
            if "depth limit" in str(exc):
                raise TooDeep("nested too deeply") from None
            raise ValueError(str(exc)) from None
    text = _check_utf8(data)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        # Not a ValueError by itself: deep nesting would escape `except ValueError`.
        raise TooDeep("nested too deeply") from None


def _check_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotUtf8(f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII characters as themselves."""
    if orjson is not None:
        return orjson.dumps(value).decode("utf-8")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def dumps_bytes(value: Any) -> bytes:
    """`dumps` encoded as UTF-8, without the detour through str under orjson."""
    if orjson is not None:
        return orjson.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
