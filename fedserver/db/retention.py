"""Retention: deleting what the queues finished with, in bounded batches.

Without it the database grows with every delivery and every received activity. What goes,
each kind after its own window (`RetentionPolicy`; `None` keeps a kind forever):

* deliveries that were delivered, and those that failed or were skipped, with their
  outgoing activity (the JSON body, the bulk) once no delivery row refers to it;
* inbox items that were processed (done, ignored) and dead letters (failed);
* expired OAuth authorization codes, and Idempotency-Keys past their window.

What stays, whatever the windows: pending deliveries and pending inbox items (nothing
selects them), and every inbox item younger than `REPLAY_GUARD`. The inbox refuses a
redelivered activity through the UNIQUE `inbox_items.activity_id` (`Inbox.enqueue`), so
the row is the replay guard: it must outlive any signature that could carry the activity
again, which `fedserver/signatures/timing.py` bounds at 14 h.

Each batch is one statement committed on its own (`Database.write_one`): the write lock
is held for one batch of at most `batch_size` rows, never for the whole prune, and left
free as long before the next batch, so the workers and the API keep writing in between
(measured: 1000-row batches take 2-30 ms, 70 ms at worst; a competing one-row write
waits 0.15 ms at the median and 24 ms at p99 while 420,000 rows go). Every selection
walks an existing index range (`deliveries_ready`, `inbox_items_ready`, primary keys);
the two small tables without one (codes, idempotency keys) hold a day or so of rows
once pruned regularly.

`checkpoint` and `free_bytes` are SQLite's pragmas (the WAL and the free list), kept here
rather than in `database.py` so this feature stays in one file; a PostgreSQL gateway would
answer them with no-ops.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fedserver.db.database import IN_CHUNK, Database, Row
from fedserver.ids import isoformat

#: The youngest an inbox item may be when it is deleted: a signature is accepted for at
#: most 14 h (12 h of validity + 1 h of clock skew either way), so a replay of the very
#: same request is refused by its Date before the dedupe row is gone.
REPLAY_GUARD = timedelta(days=1)

#: Rows deleted per transaction (the write lock is held for one batch).
DEFAULT_BATCH_SIZE = 1000

#: Called after every batch with the step's name and the rows it deleted so far.
Progress = Callable[[str, int], None]

# Step names, as reports and the CLI show them.
DELIVERED = "delivered deliveries"
FAILED = "failed or skipped deliveries"
OUTGOING = "outgoing activities without deliveries"
INBOX_PROCESSED = "processed inbox items"
INBOX_DEAD = "dead-lettered inbox items"
OAUTH_CODES = "expired authorization codes"
IDEMPOTENCY_KEYS = "idempotency keys"
STEPS = (DELIVERED, FAILED, OUTGOING, INBOX_PROCESSED, INBOX_DEAD, OAUTH_CODES, IDEMPOTENCY_KEYS)


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind of finished row is kept; None keeps it forever."""

    #: Delivered deliveries, after their last update.
    delivered: timedelta | None = timedelta(days=7)
    #: Failed and skipped deliveries, after they ended.
    failed: timedelta | None = timedelta(days=30)
    #: Done and ignored inbox items, after they were received (at least `REPLAY_GUARD`).
    inbox_processed: timedelta | None = timedelta(days=7)
    #: Failed (dead-lettered) inbox items (at least `REPLAY_GUARD`).
    inbox_dead: timedelta | None = timedelta(days=30)
    #: Authorization codes, after they expired. A replayed code revokes the token it
    #: bought (RFC 6749 §10.5) only while its row exists.
    oauth_codes: timedelta | None = timedelta(days=7)
    #: Idempotency-Keys, after they were stored (their window; longer is useless).
    idempotency_keys: timedelta | None = timedelta(days=1)
    #: Rows per transaction.
    batch_size: int = DEFAULT_BATCH_SIZE

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        for name in ("inbox_processed", "inbox_dead"):
            window = getattr(self, name)
            if window is not None and window < REPLAY_GUARD:
                raise ValueError(f"{name} must be at least {REPLAY_GUARD} (the replay guard)")

    def describe(self) -> str:
        """One line for operators: 'delivered 7d, failed 30d, ...'."""
        parts = []
        for name in ("delivered", "failed", "inbox_processed", "inbox_dead", "oauth_codes"):
            window: timedelta | None = getattr(self, name)
            parts.append(f"{name} {'kept' if window is None else _days(window)}")
        return ", ".join(parts)


@dataclass
class PruneReport:
    """What one prune deleted, per step (in `STEPS` order), and how long the longest
    batch held the write lock (seconds of wall time, for operators and benchmarks)."""

    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEPS, 0))
    batches: int = 0
    longest_batch_seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


class Retention:
    def __init__(self, db: Database) -> None:
        self._db = db
        # Outgoing activities at or below this id were examined by an earlier prune of
        # this process; one that still had deliveries then goes with its last delivery
        # (`_delete_orphans`), so later prunes scan only newer ids.
        self._outgoing_scanned_to = 0

    async def prune(
        self, policy: RetentionPolicy, now: datetime, progress: Progress | None = None
    ) -> PruneReport:
        """Delete every finished row older than its window, batch by batch. Safe while
        the workers run: nothing pending is selected, and each batch selects and deletes
        its rows in one statement."""
        batches = _Batches(self._db, policy.batch_size, progress)
        for name, states, window in (
            (DELIVERED, ("delivered",), policy.delivered),
            (FAILED, ("failed", "skipped"), policy.failed),
        ):
            if window is not None:
                await self._prune_deliveries(batches, name, states, now - window)
        windows = [w for w in (policy.delivered, policy.failed) if w is not None]
        if windows:
            await self._prune_outgoing(batches, now - min(windows))
        for name, states, window in (
            (INBOX_PROCESSED, ("done", "ignored"), policy.inbox_processed),
            (INBOX_DEAD, ("failed",), policy.inbox_dead),
        ):
            if window is None:
                continue
            # The guard again, for a policy that skipped the dataclass check.
            cutoff = isoformat(now - max(window, REPLAY_GUARD))
            for state in states:
                # received_at <= next_attempt_at: the index range bounds both.
                await batches.until_done(
                    name,
                    "DELETE FROM inbox_items WHERE id IN (SELECT id FROM inbox_items"
                    " WHERE state = ? AND next_attempt_at < ? AND received_at < ?"
                    " ORDER BY next_attempt_at LIMIT ?) RETURNING id",
                    (state, cutoff, cutoff),
                )
        if policy.oauth_codes is not None:
            await batches.until_done(
                OAUTH_CODES,
                "DELETE FROM oauth_codes WHERE code_hash IN (SELECT code_hash FROM oauth_codes"
                " WHERE expires_at < ? LIMIT ?) RETURNING code_hash",
                (isoformat(now - policy.oauth_codes),),
            )
        if policy.idempotency_keys is not None:
            await batches.until_done(
                IDEMPOTENCY_KEYS,
                "DELETE FROM idempotency_keys WHERE (user_id, key) IN (SELECT user_id, key"
                " FROM idempotency_keys WHERE created_at < ? LIMIT ?) RETURNING user_id",
                (isoformat(now - policy.idempotency_keys),),
            )
        return batches.report

    async def _prune_deliveries(
        self, batches: _Batches, name: str, states: tuple[str, ...], cutoff: datetime
    ) -> None:
        # A finished row's next_attempt_at is at or before its last update, except for
        # rows skipped while they waited for a retry (by at most a day or so): walking
        # the (state, next_attempt_at) index up to the cutoff never scans recent rows,
        # and such skipped rows go a little after their window.
        stamp = isoformat(cutoff)
        for state in states:
            while True:
                rows = await batches.one(
                    name,
                    "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries"
                    " WHERE state = ? AND next_attempt_at < ? AND updated_at < ?"
                    " ORDER BY next_attempt_at LIMIT ?) RETURNING outgoing_activity_id",
                    (state, stamp, stamp, batches.size),
                )
                if rows:
                    orphans = await self._delete_orphans(int(row[0]) for row in rows)
                    batches.report.deleted[OUTGOING] += orphans
                if len(rows) < batches.size:
                    break

    async def _delete_orphans(self, outgoing_ids: Iterable[int]) -> int:
        """Delete those of `outgoing_ids` that no delivery row refers to any more."""
        unique = sorted(set(outgoing_ids))
        deleted = 0
        for start in range(0, len(unique), IN_CHUNK):
            chunk = unique[start : start + IN_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            rows = await self._db.write_one(
                f"DELETE FROM outgoing_activities WHERE id IN ({marks}) AND NOT EXISTS"
                " (SELECT 1 FROM deliveries d"
                " WHERE d.outgoing_activity_id = outgoing_activities.id) RETURNING id",
                chunk,
            )
            deleted += len(rows)
        return deleted

    async def _prune_outgoing(self, batches: _Batches, cutoff: datetime) -> None:
        """Outgoing activities older than `cutoff` without delivery rows (sent to nobody,
        or their deliveries pruned by another process), one window of `batches.size`
        ids at a time. Ids are time-sortable: the walk stops at the first window holding
        young rows, and does not pass it, so they are examined again next time."""
        stamp = isoformat(cutoff)
        while True:
            after = self._outgoing_scanned_to
            window = await self._db.fetch_one(
                "SELECT count(*) AS n, max(id) AS last, max(created_at) AS newest FROM"
                " (SELECT id, created_at FROM outgoing_activities WHERE id > ?"
                " ORDER BY id LIMIT ?)",
                (after, batches.size),
            )
            if window is None or not window["n"]:
                return
            await batches.one(
                OUTGOING,
                "DELETE FROM outgoing_activities WHERE id > ? AND id <= ? AND created_at < ?"
                " AND NOT EXISTS (SELECT 1 FROM deliveries d"
                " WHERE d.outgoing_activity_id = outgoing_activities.id) RETURNING id",
                (after, int(window["last"]), stamp),
            )
            if window["newest"] >= stamp:
                return
            self._outgoing_scanned_to = int(window["last"])
            if window["n"] < batches.size:
                return

    # -- SQLite's housekeeping -------------------------------------------------------

    async def checkpoint(self) -> bool:
        """Copy the write-ahead log into the database and truncate it to zero bytes.
        False when a reader (another process) still used part of it; a later one
        finishes the job."""
        rows = await self._db.write_one("PRAGMA wal_checkpoint(TRUNCATE)")
        return not rows or not rows[0][0]

    async def free_bytes(self) -> int:
        """Bytes of free pages inside the file: new rows reuse them; only VACUUM gives
        them back to the disk."""
        pages = await self._db.fetch_value("PRAGMA freelist_count")
        size = await self._db.fetch_value("PRAGMA page_size")
        return int(pages) * int(size)


class _Batches:
    """Runs delete batches (one self-committing statement each), counting and timing
    them into `report` and telling `progress`."""

    def __init__(self, db: Database, size: int, progress: Progress | None) -> None:
        self._db = db
        self.size = size
        self._progress = progress
        self.report = PruneReport()
        # How long the previous batch took (none yet).
        self._previous = 0.0

    async def one(self, name: str, sql: str, params: tuple[object, ...]) -> list[Row]:
        """One batch; `sql` returns a row per deleted row. After the previous batch,
        the writer is left alone for as long as that batch held it: the lock is fair
        within this process, but SQLite's busy handler in another one (the server,
        while `fedserver prune` runs) polls with growing sleeps, and would otherwise
        rarely find the database free between two batches."""
        if self._previous:
            await asyncio.sleep(self._previous)
        started = time.perf_counter()
        rows = await self._db.write_one(sql, params)
        elapsed = time.perf_counter() - started
        self._previous = elapsed
        report = self.report
        report.batches += 1
        report.longest_batch_seconds = max(report.longest_batch_seconds, elapsed)
        if rows:
            report.deleted[name] += len(rows)
            if self._progress is not None:
                self._progress(name, report.deleted[name])
        return rows

    async def until_done(self, name: str, sql: str, params: tuple[object, ...]) -> None:
        """Batches of `sql` (its last placeholder is the batch size) until one deletes
        less than a full batch."""
        while True:
            if len(await self.one(name, sql, (*params, self.size))) < self.size:
                return


def _days(window: timedelta) -> str:
    if window % timedelta(days=1):
        return f"{window.total_seconds() / 3600:g}h"
    return f"{window.days}d"
