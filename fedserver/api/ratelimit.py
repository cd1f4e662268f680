"""Rate limits of the client API and OAuth (SECURITY.md §4 "Rate limits", checklist 27).

Fixed windows aligned on the clock (as Rack::Attack, Mastodon's limiter): every request
to `/api/` and `/oauth/` counts against its token (`authenticated_requests_per_5min`) or,
without a valid token, against its address (`unauthenticated_requests_per_5min`; IPv6
grouped by /64, since one host usually holds a whole /64). Sign-in attempts count per
address and per account, sign-ups per address; those are applied by the handlers.

Over a limit: 429 with `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
`X-RateLimit-Reset` (ISO 8601: Mastodon.py breaks on anything but a date or an integer,
CLIENTS.md). Every limited response carries the three headers. A limit of 0 turns it off.

State is in memory, per process, bounded: each limiter keeps at most `MAX_BUCKETS` keys,
least recently used first out, and forgets a key after two windows (SECURITY.md 1.4:
per-remote state needs a cap and a TTL). A restart resets every count.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web
from aiohttp.typedefs import Handler

from fedserver.api.auth import authorization
from fedserver.appkeys import clock_key, config_key
from fedserver.config import ApiConfig
from fedserver.errors import FedError
from fedserver.ids import Clock, isoformat
from fedserver.middleware import error_response
from fedserver.ttlcache import TtlCache

log = logging.getLogger(__name__)

LIMITED_PREFIXES = ("/api/", "/oauth/")
FIVE_MINUTES = timedelta(minutes=5)
THIRTY_MINUTES = timedelta(minutes=30)
#: Keys kept per limiter (a bucket is a key and two integers: a few MB at most).
MAX_BUCKETS = 100_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Verdict:
    """One counted request: whether it may proceed, and what the headers say."""

    allowed: bool
    limit: int
    remaining: int
    reset: datetime
    #: Whole seconds until the window ends (Retry-After).
    retry_after: int


class FixedWindow:
    """`limit` hits per key per `period`, in windows aligned on the epoch."""

    def __init__(
        self, limit: int, period: timedelta, clock: Clock, *, max_buckets: int = MAX_BUCKETS
    ) -> None:
        self.limit = limit
        self._period = period.total_seconds()
        self._clock = clock
        self._buckets: TtlCache[str, tuple[int, int]] = TtlCache(
            max_entries=max_buckets,
            ttl_seconds=2 * self._period,
            clock=lambda: clock().timestamp(),
        )

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def hit(self, key: str) -> Verdict | None:
        """Count one request for `key`; None when the limit is off."""
        return self._count(key, 1)

    def _count(self, key: str, amount: int) -> Verdict | None:
        if not self.enabled:
            return None
        now = self._clock()
        window = int((now - _EPOCH).total_seconds() // self._period)
        stored = self._buckets.get(key)
        count = (stored[1] if stored is not None and stored[0] == window else 0) + amount
        self._buckets.put(key, (window, count))
        reset = _EPOCH + timedelta(seconds=(window + 1) * self._period)
        return Verdict(
            allowed=count <= self.limit,
            limit=self.limit,
            remaining=max(0, self.limit - count),
            reset=reset,
            retry_after=max(1, math.ceil((reset - now).total_seconds())),
        )


class RateLimits:
    """Every limiter of one application."""

    def __init__(self, config: ApiConfig, clock: Clock) -> None:
        self.per_token = FixedWindow(config.authenticated_requests_per_5min, FIVE_MINUTES, clock)
        self.per_address = FixedWindow(
            config.unauthenticated_requests_per_5min, FIVE_MINUTES, clock
        )
        self.sign_in_per_address = FixedWindow(
            config.sign_in_attempts_per_5min, FIVE_MINUTES, clock
        )
        self.sign_in_per_account = FixedWindow(
            config.sign_in_attempts_per_5min, FIVE_MINUTES, clock
        )
        self.sign_ups_per_address = FixedWindow(config.sign_ups_per_30min, THIRTY_MINUTES, clock)


rate_limits_key = web.AppKey("rate_limits", RateLimits)


def install(app: web.Application) -> None:
    """Create the limiters (before the app starts: its state is frozen then)."""
    app[rate_limits_key] = RateLimits(app[config_key].api, app[clock_key])


def address_key(remote: str | None) -> str:
    """The bucket of a client address: IPv4 as is, IPv6 by its /64.

    >>> address_key("2001:db8::1"), address_key("::ffff:192.0.2.1"), address_key("192.0.2.1")
    ('2001:db8::/64', '192.0.2.1', '192.0.2.1')
    """
    if not remote:
        return "unknown"
    try:
        ip = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return remote[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def set_headers(response: web.StreamResponse, verdict: Verdict) -> None:
    response.headers["X-RateLimit-Limit"] = str(verdict.limit)
    response.headers["X-RateLimit-Remaining"] = str(verdict.remaining)
    response.headers["X-RateLimit-Reset"] = isoformat(verdict.reset)


def too_many_requests(verdict: Verdict, detail: str = "Too many requests") -> web.Response:
    """The 429 every limiter answers with (JSON, with the three headers and Retry-After)."""
    response = error_response(429, detail, "rate_limited")
    set_headers(response, verdict)
    response.headers["Retry-After"] = str(verdict.retry_after)
    return response


def tightest(*verdicts: Verdict | None) -> Verdict | None:
    """The verdict that says the least remains (a refusal first)."""
    present = [v for v in verdicts if v is not None]
    if not present:
        return None
    return min(present, key=lambda v: (v.allowed, v.remaining))


def count_sign_in(request: web.Request, account: str | None) -> Verdict | None:
    """Count one sign-in attempt from the request's address and, when known, against
    `account` (a stable key: the user id when the name resolves, else the name as typed).
    The verdict to act on, or None when the limit is off."""
    limits = request.app.get(rate_limits_key)
    if limits is None:
        return None
    by_address = limits.sign_in_per_address.hit(address_key(request.remote))
    by_account = None if account is None else limits.sign_in_per_account.hit(account)
    return tightest(by_address, by_account)


def count_sign_up(request: web.Request) -> Verdict | None:
    limits = request.app.get(rate_limits_key)
    if limits is None:
        return None
    return limits.sign_ups_per_address.hit(address_key(request.remote))


async def _request_verdict(request: web.Request, limits: RateLimits) -> Verdict | None:
    try:
        found = await authorization(request)
    except FedError:
        # An invalid or refused token counts as no token: the handler reports it, and
        # made-up tokens cannot escape the per-address limit.
        found = None
    if found is not None:
        return limits.per_token.hit(f"token:{found.token.id}")
    return limits.per_address.hit(address_key(request.remote))


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count API and OAuth requests; refuse with 429 over the limit.

    Sits outside the error middleware, so error responses carry the headers too, and
    inside the CORS middleware, so browsers can read a 429.
    """
    # The path first: federation traffic (actors, WebFinger, inboxes) is never counted
    # here and should pay nothing but this check.
    if not request.path.startswith(LIMITED_PREFIXES):
        return await handler(request)
    limits = request.app.get(rate_limits_key)
    if limits is None:
        return await handler(request)
    verdict = await _request_verdict(request, limits)
    if verdict is not None and not verdict.allowed:
        log.info("rate limited %s %s from %s", request.method, request.path, request.remote)
        return too_many_requests(verdict)
    response = await handler(request)
    if (
        verdict is not None
        and not response.prepared
        and "X-RateLimit-Limit" not in response.headers
    ):
        set_headers(response, verdict)
    return response
