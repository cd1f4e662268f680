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


def loads(data: bytes) -> Any:
    """A JSON value from strict UTF-8 bytes; ValueError, with the reason, for anything else."""
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ValueError(str(exc)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        # Not a ValueError by itself: deep nesting would escape `except ValueError`.
        raise ValueError("nested too deeply") from None


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
