"""Time-sortable 64-bit ids, Mastodon style, and the clock they read.

An id is the Unix time in milliseconds shifted left 16 bits, plus a 16-bit sequence, so ids
sort by creation time and never collide within one process (65,536 per millisecond).
APIs render them as strings: JavaScript clients lose precision above 2**53.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The production clock. Tests pass their own `Clock` instead."""
    return datetime.now(UTC)


def isoformat(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, as stored and as Mastodon renders dates."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_isoformat(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def id_timestamp_ms(snowflake: int) -> int:
    return snowflake >> 16


def min_id_at(moment: datetime) -> int:
    """The smallest id made at `moment`: useful for time-bounded id range queries."""
    return int(moment.timestamp() * 1000) << 16


class IdGenerator:
    """Makes ids from a clock; the sequence starts at a random point each run."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self._clock = clock
        self._last_ms = 0
        self._sequence = secrets.randbelow(1 << 16)

    def __call__(self) -> int:
        now_ms = int(self._clock().timestamp() * 1000)
        if now_ms > self._last_ms:
            self._last_ms = now_ms
        else:
            # Same millisecond (or a clock that stepped back): advance the sequence,
            # and borrow the next millisecond when the sequence wraps.
            self._sequence = (self._sequence + 1) & 0xFFFF
            if self._sequence == 0:
                self._last_ms += 1
        return (self._last_ms << 16) | self._sequence
