"""HTTP dates and the replay window of a signature (pure; `now` is always passed in).

The window is Mastodon's (`app/lib/signed_request.rb`, SECURITY.md section 1.8):

* the creation time (`(created)`, `created=` or the signed `Date`) may be at most
  1 h in the future (clock skew);
* a signature expires at its `expires` time, or 5 min after creation when none is
  signed, and never later than 12 h after creation;
* it is still accepted up to 1 h (clock skew) after it expired.

So a Date-only signature is good for 65 min (3,900 s), and only an explicit
`expires` stretches that, to at most 13 h.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from fedserver.errors import SignatureInvalid
from fedserver.signatures.model import SignedRequest

__all__ = [
    "CLOCK_SKEW",
    "DEFAULT_VALIDITY",
    "MAX_VALIDITY",
    "check_time_window",
    "format_http_date",
    "from_timestamp",
    "parse_http_date",
]

CLOCK_SKEW = timedelta(hours=1)
DEFAULT_VALIDITY = timedelta(minutes=5)
MAX_VALIDITY = timedelta(hours=12)

_WEEKDAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_TIME = r"(\d\d):(\d\d):(\d\d)"
_MONTH = r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_MONTHS = {name: number for number, name in enumerate(_MONTH[1:-1].split("|"), 1)}
# RFC 9110 5.6.7: recipients must accept IMF-fixdate and the two obsolete formats.
_IMF_FIXDATE = re.compile(rf"{_WEEKDAY}, (\d\d) {_MONTH} (\d{{4}}) {_TIME} GMT")
_RFC850 = re.compile(
    rf"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), "
    rf"(\d\d)-{_MONTH}-(\d\d) {_TIME} GMT"
)
_ASCTIME = re.compile(rf"{_WEEKDAY} {_MONTH} ([ \d]\d) {_TIME} (\d{{4}})")


def parse_http_date(value: str) -> datetime:
    """Parse an HTTP-date (RFC 9110 5.6.7) into an aware UTC datetime.

    Raises SignatureInvalid naming the value: a `Date` we cannot read cannot bound
    the replay window.
    """
    try:
        if match := _IMF_FIXDATE.fullmatch(value):
            day, month, year, hour, minute, second = match.groups()
        elif match := _RFC850.fullmatch(value):
            day, month, short_year, hour, minute, second = match.groups()
            # RFC 9110 5.6.7 ("more than 50 years in the future" is the past),
            # with a fixed pivot since this function has no clock.
            year = str((1900 if int(short_year) >= 70 else 2000) + int(short_year))
        elif match := _ASCTIME.fullmatch(value):
            month, day, hour, minute, second, year = match.groups()
        else:
            raise ValueError(value)
        fields = (int(year), _MONTHS[month], int(day), int(hour), int(minute))
        return datetime(*fields, int(second), tzinfo=UTC)
    except ValueError:
        raise SignatureInvalid(
            f"date header {value!r} is not an HTTP date "
            "(expected e.g. 'Wed, 20 Dec 2023 10:00:00 GMT')"
        ) from None


def from_timestamp(value: float, name: str) -> datetime:
    """A signature's `created`/`expires` as an aware datetime; SignatureInvalid if
    it is too far out for a datetime (e.g. 999999999999999)."""
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        shown = int(value) if float(value).is_integer() else value
        raise SignatureInvalid(f"{name} {shown} is not a valid time") from None


def format_http_date(now: datetime) -> str:
    """IMF-fixdate, e.g. 'Wed, 20 Dec 2023 10:00:00 GMT' (locale-independent)."""
    return format_datetime(_aware(now).astimezone(UTC), usegmt=True)


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return now


def check_time_window(signed: SignedRequest, *, now: datetime) -> None:
    """Raise SignatureInvalid unless every signed time is inside the window.

    Call it before resolving the key to refuse a replay without any fetch;
    `verify_signed_request` calls it again. Messages look like
    "date is 3,960 s old (max 3,900 s)" or "created is 4,000 s in the future
    (max 3,600 s)".
    """
    _aware(now)
    moments = (("created", signed.created), ("date", signed.date))
    present = [(name, moment) for name, moment in moments if moment is not None]
    if not present:
        raise SignatureInvalid("signature has no signed date or created time")
    skew = int(CLOCK_SKEW.total_seconds())
    for name, moment in present:
        ahead = (moment - now).total_seconds()
        if ahead > skew:
            raise SignatureInvalid(f"{name} is {int(ahead):,} s in the future (max {skew:,} s)")
        expires = signed.expires or moment + DEFAULT_VALIDITY
        expires = min(expires, moment + MAX_VALIDITY)
        if now > expires + CLOCK_SKEW:
            age = int((now - moment).total_seconds())
            limit = int((expires + CLOCK_SKEW - moment).total_seconds())
            raise SignatureInvalid(f"{name} is {age:,} s old (max {limit:,} s)")
