"""The outbound delivery queue and per-host delivery health: every SQL string about them.

`enqueue` writes an activity (its JSON serialised once) and one row per inbox *inside the
caller's transaction*, so a post and its deliveries commit together or not at all. The
worker (`outbox/worker.py`) reads due rows with `due`, and records attempts in batches
with `record_attempts` (or one by one: `mark_delivered`, `reschedule`, `mark_failed`),
and rows it did not send with `mark_skipped` or `postpone`. A row is marked delivered
only after the remote answered 2xx, so a crash at any point leaves it pending and it is
sent again (at-least-once, same activity id).

Host health follows Mastodon's `DeliveryFailureTracker` (app/lib/delivery_failure_tracker.rb):
the distinct UTC days on which a host failed since its last success; past a threshold it
is unavailable (Mastodon's `UnavailableDomain`) until a delivery to it succeeds or it
sends us a signed request (`mark_available`).

Deciding what an answer means, and when to retry, is not done here (`outbox/delivery.py`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from urllib.parse import urlsplit

from fedserver.db.database import Database, Row, Transaction
from fedserver.ids import isoformat, parse_isoformat
from fedserver.ttlcache import TtlCache

DeliveryStateName = Literal["pending", "delivered", "failed", "skipped"]

STATES: tuple[DeliveryStateName, ...] = ("pending", "delivered", "failed", "skipped")
#: The reason stored on rows skipped because their host is unavailable.
HOST_UNAVAILABLE = "host unavailable"
#: Failure days kept per host: enough for any sensible threshold, and bounded.
MAX_FAILURE_DAYS = 31

_DEFAULT_PORTS = {"http": 80, "https": 443}


def delivery_host(url: str) -> str:
    """The authority deliveries to `url` are grouped by: the lower-case host, with the port
    only when it is not the scheme's default; '' when `url` is not an http(s) URL.

    >>> delivery_host("https://Social.Example:443/inbox")
    'social.example'
    >>> delivery_host("http://127.0.0.1:8081/inbox")
    '127.0.0.1:8081'
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host:
        return ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return host
    return f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A pending delivery whose time has come (without the body: see `bodies`)."""

    id: int
    outgoing_activity_id: int
    activity_id: str
    #: The local account that signs it; None for the instance actor.
    sender_account_id: int | None
    inbox_url: str
    host: str
    #: Attempts made so far.
    attempts: int


@dataclass(frozen=True)
class AttemptResult:
    """The outcome of one attempt, as the worker records it."""

    delivery_id: int
    #: delivered; pending (try again at `next_attempt_at`); failed (for `reason`).
    state: Literal["delivered", "pending", "failed"]
    #: The HTTP status answered, None when no answer came.
    status: int | None
    error: str | None = None
    reason: str | None = None
    next_attempt_at: datetime | None = None
    #: False when the row failed without being sent (no attempt counted).
    attempted: bool = True


@dataclass(frozen=True)
class DeliveryRecord:
    """One inbox's delivery state, for the per-post report and operators."""

    id: int
    activity_id: str
    inbox_url: str
    host: str
    state: DeliveryStateName
    #: Why it ended (failed, skipped); None while pending or once delivered.
    reason: str | None
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class HostBacklog:
    """A host with pending or failed deliveries."""

    host: str
    pending: int
    failed: int
    #: The earliest next attempt of its pending rows; None when none is pending.
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class HostHealth:
    """A host that failed on some day since its last success."""

    host: str
    failure_days: tuple[date, ...]
    unavailable: bool
    unavailable_since: datetime | None


@dataclass(frozen=True)
class DeliverySummary:
    """Counts by state, the hosts with work left or failures, and host health."""

    pending: int
    delivered: int
    failed: int
    skipped: int
    hosts: tuple[HostBacklog, ...]
    health: tuple[HostHealth, ...]

    @property
    def unavailable(self) -> tuple[HostHealth, ...]:
        return tuple(host for host in self.health if host.unavailable)


#: Hosts found without a health record are remembered this long (bounded): a signed
#: request from an active peer then costs no read. `record_failure`, the only writer of
#: records, forgets its host, so within this process the answer is exact; a record written
#: by another process is cleared at the latest this much later.
CLEAN_HOSTS = 4096
CLEAN_HOST_SECONDS = 30.0


class Deliveries:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._clean_hosts: TtlCache[str, bool] = TtlCache(
            max_entries=CLEAN_HOSTS, ttl_seconds=CLEAN_HOST_SECONDS
        )
        # Bumped by every record written: a read that a write overtook is not remembered.
        self._health_generation = 0

    # -- enqueueing ------------------------------------------------------------------

    async def enqueue(
        self,
        tx: Transaction,
        *,
        activity_id: str,
        sender_account_id: int | None,
        body: str,
        inboxes: Iterable[str],
        status_id: int | None,
        now: datetime,
        new_id: Callable[[], int],
    ) -> int:
        """Queue `body` (the activity JSON, serialised once) for every inbox, inside `tx`.

        Returns the outgoing activity's row id. Idempotent: enqueueing an activity id
        again keeps the first body and adds only inboxes not queued yet. Inboxes are
        deduplicated; one that is not an http(s) URL is stored as failed ("invalid inbox
        URL") rather than refused, so one bad follower never blocks a post. Raises only
        what the database raises (the caller's transaction then rolls back).
        """
        stamp = isoformat(now)
        await tx.execute(
            "INSERT INTO outgoing_activities (id, activity_id, sender_account_id, status_id,"
            " body, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (activity_id) DO NOTHING",
            (new_id(), activity_id, sender_account_id, status_id, body, stamp),
        )
        row = await tx.fetch_one(
            "SELECT id FROM outgoing_activities WHERE activity_id = ?", (activity_id,)
        )
        assert row is not None  # inserted above or already there, in this transaction
        outgoing_id = int(row["id"])
        rows = []
        for inbox_url in dict.fromkeys(inboxes):
            host = delivery_host(inbox_url)
            state, reason = ("pending", None) if host else ("failed", "invalid inbox URL")
            rows.append(
                (new_id(), outgoing_id, inbox_url, host, state, reason, stamp, stamp, stamp)
            )
        await tx.execute_many(
            "INSERT INTO deliveries (id, outgoing_activity_id, inbox_url, host, state, reason,"
            " next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (outgoing_activity_id, inbox_url) DO NOTHING",
            rows,
        )
        return outgoing_id

    async def enqueue_now(
        self,
        *,
        activity_id: str,
        sender_account_id: int | None,
        body: str,
        inboxes: Iterable[str],
        status_id: int | None,
        now: datetime,
        new_id: Callable[[], int],
    ) -> int:
        """`enqueue` in a transaction of its own."""
        async with self._db.transaction() as tx:
            return await self.enqueue(
                tx,
                activity_id=activity_id,
                sender_account_id=sender_account_id,
                body=body,
                inboxes=inboxes,
                status_id=status_id,
                now=now,
                new_id=new_id,
            )

    # -- the worker's side -----------------------------------------------------------

    async def due(
        self,
        now: datetime,
        limit: int,
        *,
        exclude_hosts: Collection[str] = (),
        exclude_ids: Collection[int] = (),
    ) -> list[DueDelivery]:
        """Pending rows whose next attempt is at or before `now`, earliest first, leaving
        out `exclude_hosts` (hosts the worker has enough rows of already) and
        `exclude_ids` (rows it holds already: reading them again would only cost).

        Reading is the whole claim: one process owns the queue, and the worker keeps the
        rows it is working on in memory, so a restart finds every unfinished row
        immediately due (no lease to wait out).
        """
        hosts = sorted(set(exclude_hosts))
        ids = sorted(set(exclude_ids))
        filters = ""
        if hosts:
            filters += f" AND d.host NOT IN ({', '.join('?' for _ in hosts)})"
        if ids:
            filters += f" AND d.id NOT IN ({', '.join('?' for _ in ids)})"
        # `filters` holds placeholders only; the hosts and ids are bound parameters.
        rows = await self._db.fetch_all(
            f"""
            SELECT d.id, d.outgoing_activity_id, o.activity_id, o.sender_account_id,
                   d.inbox_url, d.host, d.attempts
            FROM deliveries d JOIN outgoing_activities o ON o.id = d.outgoing_activity_id
            WHERE d.state = 'pending' AND d.next_attempt_at <= ?{filters}
            ORDER BY d.next_attempt_at, d.id
            LIMIT ?
            """,
            (isoformat(now), *hosts, *ids, limit),
        )
        return [DueDelivery(*row) for row in rows]

    async def bodies(self, outgoing_activity_ids: Sequence[int]) -> dict[int, str]:
        """The activity JSON of each outgoing activity id given."""
        if not outgoing_activity_ids:
            return {}
        marks = ", ".join("?" for _ in outgoing_activity_ids)
        rows = await self._db.fetch_all(
            f"SELECT id, body FROM outgoing_activities WHERE id IN ({marks})",
            tuple(outgoing_activity_ids),
        )
        return {int(row["id"]): str(row["body"]) for row in rows}

    async def record_attempts(self, results: Sequence[AttemptResult], now: datetime) -> None:
        """Record many attempts' outcomes in one transaction (the worker's group commit:
        one commit for every POST that finished meanwhile, not one per POST)."""
        stamp = isoformat(now)
        delivered = []
        rescheduled = []
        failed = []
        for result in results:
            if result.state == "delivered":
                delivered.append((result.status, stamp, result.delivery_id))
            elif result.state == "pending":
                if result.next_attempt_at is None:
                    raise ValueError("a rescheduled delivery needs next_attempt_at")
                rescheduled.append(
                    (
                        isoformat(result.next_attempt_at),
                        result.status,
                        result.error,
                        stamp,
                        result.delivery_id,
                    )
                )
            else:
                failed.append(
                    (
                        result.reason,
                        1 if result.attempted else 0,
                        result.status,
                        result.error,
                        stamp,
                        result.delivery_id,
                    )
                )
        if not results:
            return
        # Each statement only changes a row still pending: a row skipped meanwhile (its
        # host became unavailable) keeps that state.
        async with self._db.transaction() as tx:
            if delivered:
                await tx.execute_many(
                    "UPDATE deliveries SET state = 'delivered', reason = NULL,"
                    " attempts = attempts + 1, last_status = ?, last_error = NULL,"
                    " updated_at = ? WHERE id = ? AND state = 'pending'",
                    delivered,
                )
            if rescheduled:
                await tx.execute_many(
                    "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?,"
                    " last_status = ?, last_error = ?, updated_at = ?"
                    " WHERE id = ? AND state = 'pending'",
                    rescheduled,
                )
            if failed:
                await tx.execute_many(
                    "UPDATE deliveries SET state = 'failed', reason = ?,"
                    " attempts = attempts + ?, last_status = coalesce(?, last_status),"
                    " last_error = coalesce(?, last_error), updated_at = ?"
                    " WHERE id = ? AND state = 'pending'",
                    failed,
                )

    async def mark_delivered(self, delivery_id: int, *, status: int, now: datetime) -> None:
        """The inbox answered 2xx: done, never sent again."""
        await self.record_attempts([AttemptResult(delivery_id, "delivered", status)], now)

    async def reschedule(
        self,
        delivery_id: int,
        *,
        next_at: datetime,
        status: int | None,
        error: str,
        now: datetime,
    ) -> None:
        """An attempt failed in a way worth retrying: count it, try again at `next_at`."""
        await self.record_attempts(
            [AttemptResult(delivery_id, "pending", status, error=error, next_attempt_at=next_at)],
            now,
        )

    async def mark_failed(
        self,
        delivery_id: int,
        *,
        reason: str,
        status: int | None,
        error: str | None,
        now: datetime,
        attempted: bool = True,
    ) -> None:
        """Given up for `reason` ("410 gone", "gave up after 16 attempts: ..."); `attempted`
        is False when it failed without being sent (the sender has no keys)."""
        await self.record_attempts(
            [
                AttemptResult(
                    delivery_id, "failed", status, error=error, reason=reason, attempted=attempted
                )
            ],
            now,
        )

    async def mark_skipped(
        self, delivery_ids: Sequence[int], *, reason: str, now: datetime
    ) -> None:
        """Not sent, and never will be (its host is unavailable): no attempt is counted."""
        await self._update_many(
            "UPDATE deliveries SET state = 'skipped', reason = ?, updated_at = ?"
            " WHERE id = ? AND state = 'pending'",
            [(reason, isoformat(now), delivery_id) for delivery_id in delivery_ids],
        )

    async def postpone(
        self, delivery_ids: Sequence[int], *, next_at: datetime, error: str, now: datetime
    ) -> None:
        """Move rows to `next_at` without an attempt (the host's circuit breaker is open)."""
        await self._update_many(
            "UPDATE deliveries SET next_attempt_at = ?, last_error = ?, updated_at = ?"
            " WHERE id = ? AND state = 'pending'",
            [
                (isoformat(next_at), error, isoformat(now), delivery_id)
                for delivery_id in delivery_ids
            ],
        )

    async def _update_many(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        if rows:
            async with self._db.transaction() as tx:
                await tx.execute_many(sql, rows)

    # -- reports ---------------------------------------------------------------------

    async def for_status(self, status_id: int) -> list[DeliveryRecord]:
        """Every inbox's delivery of every activity about local status `status_id`
        (its Create, Updates, Delete), oldest activity first."""
        rows = await self._db.fetch_all(
            """
            SELECT d.*, o.activity_id
            FROM deliveries d JOIN outgoing_activities o ON o.id = d.outgoing_activity_id
            WHERE o.status_id = ?
            ORDER BY o.id, d.inbox_url
            """,
            (status_id,),
        )
        return [_record(row) for row in rows]

    async def for_activity(self, activity_id: str) -> list[DeliveryRecord]:
        """Every inbox's delivery of one activity, by inbox URL."""
        rows = await self._db.fetch_all(
            """
            SELECT d.*, o.activity_id
            FROM deliveries d JOIN outgoing_activities o ON o.id = d.outgoing_activity_id
            WHERE o.activity_id = ?
            ORDER BY d.inbox_url
            """,
            (activity_id,),
        )
        return [_record(row) for row in rows]

    async def count(self, state: DeliveryStateName | None = None) -> int:
        if state is None:
            return int(await self._db.fetch_value("SELECT count(*) FROM deliveries"))
        return int(
            await self._db.fetch_value("SELECT count(*) FROM deliveries WHERE state = ?", (state,))
        )

    async def summary(self, *, max_hosts: int = 50) -> DeliverySummary:
        """For operators (`fedserver deliveries`): counts by state, the `max_hosts` hosts
        with the most pending then failed rows, and every host with failure days."""
        counts = {state: 0 for state in STATES}
        for row in await self._db.fetch_all(
            "SELECT state, count(*) AS n FROM deliveries GROUP BY state"
        ):
            counts[row["state"]] = int(row["n"])
        host_rows = await self._db.fetch_all(
            """
            SELECT host,
                   sum(CASE WHEN state = 'pending' THEN 1 ELSE 0 END) AS pending,
                   sum(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) AS failed,
                   min(CASE WHEN state = 'pending' THEN next_attempt_at END) AS next_at
            FROM deliveries WHERE state IN ('pending', 'failed')
            GROUP BY host
            ORDER BY pending DESC, failed DESC, host
            LIMIT ?
            """,
            (max_hosts,),
        )
        hosts = tuple(
            HostBacklog(
                host=row["host"],
                pending=int(row["pending"]),
                failed=int(row["failed"]),
                next_attempt_at=parse_isoformat(row["next_at"]) if row["next_at"] else None,
            )
            for row in host_rows
        )
        health_rows = await self._db.fetch_all(
            "SELECT * FROM remote_hosts ORDER BY unavailable DESC, host"
        )
        return DeliverySummary(
            pending=counts["pending"],
            delivered=counts["delivered"],
            failed=counts["failed"],
            skipped=counts["skipped"],
            hosts=hosts,
            health=tuple(_health(row) for row in health_rows),
        )

    # -- host health -----------------------------------------------------------------

    async def record_failure(
        self, host: str, day: date, *, unavailable_after_days: int, now: datetime
    ) -> bool:
        """A delivery to `host` failed on `day` (UTC). Returns True when this made the
        host unavailable; its pending rows are then skipped ("host unavailable")."""
        stamp = isoformat(now)
        self._health_generation += 1
        self._clean_hosts.pop(host)
        try:
            return await self._record_failure(host, day, unavailable_after_days, stamp)
        finally:
            self._health_generation += 1
            self._clean_hosts.pop(host)

    async def _record_failure(
        self, host: str, day: date, unavailable_after_days: int, stamp: str
    ) -> bool:
        async with self._db.transaction() as tx:
            row = await tx.fetch_one("SELECT * FROM remote_hosts WHERE host = ?", (host,))
            days = set(_days(row["failure_days"])) if row is not None else set()
            days.add(day)
            kept = sorted(days)[-MAX_FAILURE_DAYS:]
            was_unavailable = row is not None and bool(row["unavailable"])
            unavailable = was_unavailable or len(kept) >= unavailable_after_days
            since = row["unavailable_since"] if was_unavailable and row is not None else None
            if unavailable and since is None:
                since = stamp
            days_json = json.dumps([d.isoformat() for d in kept])
            if row is None:
                await tx.execute(
                    "INSERT INTO remote_hosts (host, failure_days, unavailable,"
                    " unavailable_since, updated_at) VALUES (?, ?, ?, ?, ?)",
                    (host, days_json, int(unavailable), since, stamp),
                )
            else:
                await tx.execute(
                    "UPDATE remote_hosts SET failure_days = ?, unavailable = ?,"
                    " unavailable_since = ?, updated_at = ? WHERE host = ?",
                    (days_json, int(unavailable), since, stamp, host),
                )
            became_unavailable = unavailable and not was_unavailable
            if became_unavailable:
                await tx.execute(
                    "UPDATE deliveries SET state = 'skipped', reason = ?, updated_at = ?"
                    " WHERE host = ? AND state = 'pending'",
                    (HOST_UNAVAILABLE, stamp, host),
                )
            return became_unavailable

    async def record_success(self, host: str) -> bool:
        """A delivery to `host` succeeded: forget its failure days and make it available
        (Mastodon's `track_success!`). True when there was something to clear. Costs one
        indexed read, and a write only when the host had a record; nothing when it was
        found clean a moment ago."""
        if self._clean_hosts.get(host):
            return False
        generation = self._health_generation
        if await self._db.fetch_one("SELECT 1 FROM remote_hosts WHERE host = ?", (host,)) is None:
            cleared = False
        else:
            async with self._db.transaction() as tx:
                cleared = await tx.execute("DELETE FROM remote_hosts WHERE host = ?", (host,)) > 0
        if generation == self._health_generation:
            self._clean_hosts.put(host, True)
        return cleared

    async def mark_available(self, host: str) -> bool:
        """`host` sent us a validly signed request: it is up again (Mastodon clears the
        failure tracker in `InboxesController#upgrade_account`). Cheap when there is
        nothing to clear; True when there was."""
        return await self.record_success(host)

    async def is_unavailable(self, host: str) -> bool:
        value = await self._db.fetch_value(
            "SELECT unavailable FROM remote_hosts WHERE host = ?", (host,)
        )
        return bool(value)

    async def unavailable_among(self, hosts: Iterable[str]) -> set[str]:
        """Which of `hosts` are unavailable (one query)."""
        wanted = sorted(set(hosts))
        if not wanted:
            return set()
        marks = ", ".join("?" for _ in wanted)
        rows = await self._db.fetch_all(
            f"SELECT host FROM remote_hosts WHERE unavailable = 1 AND host IN ({marks})",
            tuple(wanted),
        )
        return {str(row["host"]) for row in rows}

    async def hosts_with_failures(self) -> set[str]:
        """Every host with a health record (failure days or unavailable)."""
        rows = await self._db.fetch_all("SELECT host FROM remote_hosts")
        return {str(row["host"]) for row in rows}

    async def host_health(self, host: str) -> HostHealth | None:
        row = await self._db.fetch_one("SELECT * FROM remote_hosts WHERE host = ?", (host,))
        return None if row is None else _health(row)


def _days(text: str) -> list[date]:
    return [date.fromisoformat(day) for day in json.loads(text)]


def _health(row: Row) -> HostHealth:
    since = row["unavailable_since"]
    return HostHealth(
        host=row["host"],
        failure_days=tuple(_days(row["failure_days"])),
        unavailable=bool(row["unavailable"]),
        unavailable_since=parse_isoformat(since) if since else None,
    )


def _record(row: Row) -> DeliveryRecord:
    return DeliveryRecord(
        id=row["id"],
        activity_id=row["activity_id"],
        inbox_url=row["inbox_url"],
        host=row["host"],
        state=row["state"],
        reason=row["reason"],
        attempts=row["attempts"],
        last_status=row["last_status"],
        last_error=row["last_error"],
        next_attempt_at=parse_isoformat(row["next_attempt_at"]),
        updated_at=parse_isoformat(row["updated_at"]),
    )
