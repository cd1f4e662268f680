"""Delivery policy (pure): which inboxes, what an answer means, when to try again.

No I/O, no clock, no randomness of its own: the worker (`outbox/worker.py`) passes `now`
and a `random.Random`. The queue itself lives in `fedserver/db/deliveries.py`.

The rules are Mastodon's, the peer everybody interoperates with (SECURITY.md section 4):

* one POST per deduplicated inbox, the shared inbox when an actor has one
  (`Account#preferred_inbox_url`);
* retries with `n**4 + 15` s plus jitter of up to `0.5 * n**4` s, as
  `ActivityPub::DeliveryWorker` (`sidekiq_retry_in`), for 16 attempts: 15 waits totalling
  49.6 h before jitter, so about 2.1 to 3.1 days before giving up;
* no retry for "unsalvageable" answers: every 4xx except 401, 408 and 429, and 501
  (`ActivityPub::DeliveryWorker#response_error_unsalvageable?`); 401 is retried because
  the receiver may not have our key cached yet, but only a few times (3 attempts,
  SECURITY.md checklist 28), where Mastodon keeps trying for days;
* `Retry-After` honoured, capped (GoToSocial caps it at 10 s; we wait up to a day);
* a per-host circuit breaker, like Mastodon's Stoplight (10 failures, 60 s cool-off).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from http import HTTPStatus
from typing import Any

from fedserver.db.deliveries import delivery_host
from fedserver.errors import FetchError, FetchRefused
from fedserver.http import DeliveryResult

#: Mastodon's `FAILURE_DAYS_THRESHOLD` (app/lib/delivery_failure_tracker.rb).
UNAVAILABLE_AFTER_DAYS = 7
DAY_SECONDS = 24 * 60 * 60


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """The worker's knobs (future `[delivery]` config keys), with Mastodon-like defaults."""

    #: Attempts before a row is failed ("gave up after 16 attempts: ...").
    max_attempts: int = 16
    #: Attempts answered 401 before a row is failed: the receiver may not have our key
    #: cached yet, but a key it keeps refusing will not be accepted in 2-3 days either.
    unauthorized_max_attempts: int = 3
    #: POSTs in flight at once, and per host (an HTTP origin). One per host keeps one
    #: keep-alive connection per host, with the host's deliveries sent one after another.
    concurrency: int = 32
    per_host_concurrency: int = 1
    #: Seconds a connection may take to open (a blackholed host fails this fast).
    connect_timeout_seconds: float = 5.0
    #: A POST unanswered after this many seconds stops counting against `concurrency`
    #: (it still counts against its host), so dead hosts cannot hold every slot; at most
    #: 3 x `concurrency` such slow POSTs are open besides the others.
    slow_after_seconds: float = 2.0
    #: Claimed rows the worker keeps ready in memory (a claim reads up to this many).
    claim_window: int = 256
    #: Idle poll interval of the background loop, in seconds.
    poll_seconds: float = 0.5
    #: Upper bound on a remote's `Retry-After`, in seconds.
    retry_after_cap_seconds: float = DAY_SECONDS
    #: Consecutive host failures that open the breaker, and how long it stays open.
    breaker_threshold: int = 10
    breaker_cool_off_seconds: float = 60.0
    #: Distinct failure days that make a host unavailable.
    unavailable_after_days: int = UNAVAILABLE_AFTER_DAYS
    #: On shutdown, how long in-flight POSTs may take before they are cancelled (and
    #: left pending, to be sent again after the restart).
    shutdown_grace_seconds: float = 10.0

    def __post_init__(self) -> None:
        positive = {
            "max_attempts": self.max_attempts,
            "unauthorized_max_attempts": self.unauthorized_max_attempts,
            "concurrency": self.concurrency,
            "connect_timeout_seconds": self.connect_timeout_seconds,
            "slow_after_seconds": self.slow_after_seconds,
            "per_host_concurrency": self.per_host_concurrency,
            "claim_window": self.claim_window,
            "poll_seconds": self.poll_seconds,
            "breaker_threshold": self.breaker_threshold,
            "unavailable_after_days": self.unavailable_after_days,
        }
        problems = [f"{name} must be positive" for name, value in positive.items() if value <= 0]
        for name, seconds in (
            ("retry_after_cap_seconds", self.retry_after_cap_seconds),
            ("breaker_cool_off_seconds", self.breaker_cool_off_seconds),
            ("shutdown_grace_seconds", self.shutdown_grace_seconds),
        ):
            if seconds < 0:
                problems.append(f"{name} must be 0 or more")
        if problems:
            raise ValueError("invalid DeliverySettings: " + "; ".join(problems))


def serialize_activity(activity: Mapping[str, Any]) -> str:
    """The JSON every inbox receives: serialise once per fan-out, not per inbox."""
    return json.dumps(activity, ensure_ascii=False, separators=(",", ":"))


def plan_inboxes(
    recipients: Iterable[tuple[str | None, str | None]], *, skip_hosts: Iterable[str] = ()
) -> list[str]:
    """The inboxes to POST to, once each, for recipients given as (inbox, shared_inbox).

    An actor with a shared inbox is reached through it (every follower on a host then
    costs one POST); otherwise through its own inbox. Missing and non-http(s) URLs are
    dropped, as are inboxes on `skip_hosts` (our own host). Order is kept.

    >>> plan_inboxes([("https://a.example/u/1/inbox", "https://a.example/inbox"),
    ...               ("https://a.example/u/2/inbox", "https://a.example/inbox"),
    ...               ("https://b.example/u/3/inbox", None)])
    ['https://a.example/inbox', 'https://b.example/u/3/inbox']
    """
    skipped = {host.lower() for host in skip_hosts}
    # Parsing a URL costs more than the rest: once per distinct URL (10,000 followers on
    # 1,000 hosts with shared inboxes are about 1,000 URLs).
    seen: dict[str, bool] = {}
    for inbox, shared_inbox in recipients:
        url = shared_inbox or inbox
        if url and url not in seen:
            host = delivery_host(url)
            seen[url] = bool(host) and host not in skipped
    return [url for url, kept in seen.items() if kept]


def next_attempt_delay(
    attempt: int,
    rng: random.Random,
    *,
    retry_after: float | None = None,
    retry_after_cap: float = DAY_SECONDS,
) -> float:
    """Seconds to wait after the `attempt`-th failed attempt (1, 2, ...).

    Mastodon's `attempt**4 + 15` plus jitter in [0, 0.5 * attempt**4), and at least the
    remote's `Retry-After` (capped at `retry_after_cap`).

    >>> next_attempt_delay(1, random.Random(0)) >= 16
    True
    >>> next_attempt_delay(1, random.Random(0), retry_after=120)
    120.0
    """
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, not {attempt}")
    power = attempt**4
    delay = power + 15 + rng.random() * 0.5 * power
    if retry_after is not None:
        delay = max(delay, min(max(retry_after, 0.0), retry_after_cap))
    return float(delay)


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GIVE_UP = "give_up"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt means for its row and for the host."""

    verdict: Verdict
    #: For people and the database: "202 accepted", "410 gone", "connection failed: ...".
    reason: str
    #: The HTTP status, None when no answer came.
    status: int | None = None
    #: The remote's `Retry-After`, in seconds.
    retry_after: float | None = None
    #: Whether it counts against the host (circuit breaker, failure days): no answer,
    #: a timeout or a server error, as opposed to an answer about this one request.
    host_failure: bool = False


def status_reason(status: int) -> str:
    """A status for people: "410 gone", "503 service unavailable", "599 HTTP status"."""
    try:
        phrase = HTTPStatus(status).phrase.lower()
    except ValueError:
        phrase = "HTTP status"
    return f"{status} {phrase}"


def classify(result: DeliveryResult) -> Outcome:
    """What an inbox's answer means: 2xx delivered; 4xx other than 401, 408 and 429, and
    501, given up; everything else (401, 408, 429, 3xx, 5xx) retried."""
    status = result.status
    reason = status_reason(status)
    if 200 <= status < 300:
        return Outcome(Verdict.DELIVERED, reason, status)
    retryable_4xx = status in (401, 408, 429)
    if (400 <= status < 500 and not retryable_4xx) or status == 501:
        return Outcome(Verdict.GIVE_UP, reason, status)
    host_failure = status >= 500 or status == 408
    return Outcome(Verdict.RETRY, reason, status, result.retry_after, host_failure)


def classify_error(error: FetchError) -> Outcome:
    """A POST that got no answer: refused by our policy (never sent, never will be) is
    given up; a connection failure or timeout is retried and counts against the host."""
    if isinstance(error, FetchRefused):
        return Outcome(Verdict.GIVE_UP, str(error))
    return Outcome(Verdict.RETRY, str(error), host_failure=True)


@dataclass(slots=True)
class _Breaker:
    failures: int = 0
    open_until: datetime | None = None


class CircuitBreakers:
    """Per-host circuit breakers, in memory, like Mastodon's Stoplight on each inbox
    (threshold 10, cool-off 60 s).

    Closed: requests flow. After `threshold` consecutive host failures it opens for
    `cool_off`: the worker postpones that host's rows without trying them. Then it is
    half-open: one request at a time; a failure opens it again, a success closes it.
    At most `max_hosts` hosts are tracked (the oldest is forgotten first).
    """

    def __init__(self, threshold: int, cool_off: timedelta, *, max_hosts: int = 10_000) -> None:
        self._threshold = threshold
        self._cool_off = cool_off
        self._max_hosts = max_hosts
        self._hosts: dict[str, _Breaker] = {}

    def host_limit(self, host: str, now: datetime, normal: int) -> int:
        """How many requests to `host` may be in flight now: 0 (open), 1 (half-open)
        or `normal` (closed)."""
        breaker = self._hosts.get(host)
        if breaker is None or breaker.open_until is None:
            return normal
        return 0 if now < breaker.open_until else 1

    def open_until(self, host: str) -> datetime | None:
        breaker = self._hosts.get(host)
        return None if breaker is None else breaker.open_until

    def record_success(self, host: str) -> None:
        self._hosts.pop(host, None)

    def record_failure(self, host: str, now: datetime) -> bool:
        """Count a host failure; True when it (re)opened the breaker."""
        breaker = self._hosts.pop(host, None) or _Breaker()
        self._hosts[host] = breaker  # most recently failed last
        while len(self._hosts) > self._max_hosts:
            del self._hosts[next(iter(self._hosts))]
        breaker.failures += 1
        if breaker.failures >= self._threshold:
            breaker.open_until = now + self._cool_off
            return True
        return False

    def forget(self, host: str) -> None:
        self._hosts.pop(host, None)
