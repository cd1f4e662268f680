"""The delivery worker: sends queued activities to remote inboxes, and records each outcome.

It owns the sending side of the queue whose rows `fedserver/db/deliveries.py` stores:
claim due rows, POST each one signed with its sender's key through the guarded
`HttpClient` (one shared session, so connections to a host are reused), and record what
happened. What an answer means and how long to wait is decided by `outbox/delivery.py`.

Like Mastodon's `ActivityPub::DeliveryWorker`, each row is one deduplicated inbox and one
RSA signature, retried over about 2-3 days; like its `DeliveryFailureTracker`, a host that
failed on 7 distinct days is skipped until it answers a delivery or sends us a signed
request; like its Stoplight breaker, a host failing 10 times in a row is left alone for a
minute. Unlike OSS Sidekiq (whose in-flight jobs are lost on kill -9), a row stays pending
in the database until the remote answered 2xx, so nothing acknowledged is lost: after a
crash every unfinished row is due again at once (at-least-once, same activity id).

Two ways to drive it: `await run_once(now)` delivers what is due and returns (tests drive
time with a frozen clock), and `start()` / `stop()` run a background loop (started by
`delivery_worker_ctx`) that polls for due rows, is woken by `wake()` after an enqueue,
and on stop lets in-flight POSTs finish for a grace period, then cancels them (their rows
stay pending). The loop logs and survives every exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from aiohttp import web

from fedserver.appkeys import (
    clock_key,
    config_key,
    delivery_worker_key,
    http_client_key,
    instance_actor_key,
    store_key,
)
from fedserver.db import Store
from fedserver.db.deliveries import HOST_UNAVAILABLE, AttemptResult, DueDelivery
from fedserver.errors import FetchError
from fedserver.http import HttpClient, Signer
from fedserver.ids import Clock
from fedserver.keypairs import RSA
from fedserver.signatures import PrivateKey, load_private_key
from fedserver.signing import make_signer
from fedserver.urls import LocalUrls
from outbox.delivery import (
    CircuitBreakers,
    DeliverySettings,
    Outcome,
    Verdict,
    classify,
    classify_error,
    next_attempt_delay,
)

log = logging.getLogger(__name__)

#: Activity bodies kept encoded in memory (a fan-out reads its body once, not per inbox).
BODY_CACHE_SIZE = 256
#: Senders whose parsed key and signer are kept (parsing a PEM costs milliseconds).
SIGNER_CACHE_SIZE = 1024
#: Hosts whose failure day was recorded today, remembered to write it once a day.
FAILURE_DAY_MEMORY = 10_000
#: After waking, wait this long so completions close together share one claim query.
COALESCE_SECONDS = 0.01
#: How long the first finished delivery waits for others to share its transaction.
COMMIT_LINGER_SECONDS = 0.025
#: Slow POSTs (see `slow_after_seconds`) allowed per slot of `concurrency`.
SLOW_PER_SLOT = 3
#: Claimed rows kept ready per host, as a multiple of the per-host concurrency.
READY_PER_HOST_FACTOR = 4


class SenderUnavailable(Exception):
    """The sender of a queued activity has no RSA key to sign with (never retried)."""


class _GroupCommit:
    """Writes attempt results in batches: the first result waits `linger` seconds for
    others, and every result submitted while a write is under way goes into the next
    one, so N POSTs finishing close together cost one transaction, not N (the per-row
    transaction was half the worker's CPU). `submit` returns once its result is
    committed, or raises what the write raised. The wait costs no throughput: the
    worker frees a row's slot before submitting its result."""

    def __init__(self, store: Store, linger: float = 0.0) -> None:
        self._store = store
        self._linger = linger
        self._pending: list[tuple[AttemptResult, datetime, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, result: AttemptResult, now: datetime) -> None:
        done = asyncio.get_running_loop().create_future()
        self._pending.append((result, now, done))
        if self._task is None:
            self._task = asyncio.create_task(self._write(), name="delivery-results")
        await done

    async def drain(self) -> None:
        """Wait for the results already submitted (their submitters may be cancelled)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _write(self) -> None:
        try:
            if self._linger:
                await asyncio.sleep(self._linger)
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    # `now` only stamps updated_at: the latest one stands for the batch.
                    await self._store.deliveries.record_attempts(
                        [result for result, _, _ in batch], max(now for _, now, _ in batch)
                    )
                except Exception as exc:
                    for _, _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for _, _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._task = None


@dataclass(frozen=True, slots=True)
class _Ready:
    row: DueDelivery
    body: bytes


class DeliveryWorker:
    """Delivers due rows of `store.deliveries` through `http`.

    `base_url` builds the senders' key ids; `instance_key` (the instance actor's parsed
    RSA key) saves loading it; `rng` drives the retry jitter (tests seed it).

    Claimed rows wait in a small in-memory buffer per host (at most
    `READY_PER_HOST_FACTOR` x the per-host limit, `claim_window` in all), and each
    finished POST starts the next ready row at once, so the database is read once per
    batch rather than once per delivery. A host with a full buffer is left out of the
    next claim, so one host's backlog never hides the other hosts' rows.
    """

    def __init__(
        self,
        store: Store,
        http: HttpClient,
        *,
        base_url: str,
        clock: Clock,
        settings: DeliverySettings | None = None,
        rng: random.Random | None = None,
        instance_key: PrivateKey | None = None,
    ) -> None:
        self._store = store
        self._http = http
        self._urls = LocalUrls(base_url)
        self._clock = clock
        self.settings = settings or DeliverySettings()
        self._rng = rng or random.Random()
        self._instance_key = instance_key
        self.breakers = CircuitBreakers(
            self.settings.breaker_threshold,
            timedelta(seconds=self.settings.breaker_cool_off_seconds),
        )
        self._ready_per_host = self.settings.per_host_concurrency * READY_PER_HOST_FACTOR
        # Slow POSTs (unanswered after `slow_after_seconds`) leave the global count, up
        # to SLOW_PER_SLOT x `concurrency` of them, and never past 3/4 of the client's
        # connection pool (the rest stays for fetches): a POST waiting for a pooled
        # connection would spend its deadline waiting.
        concurrency = self.settings.concurrency
        pool = (3 * http.policy.max_connections) // 4
        self._max_slow = max(0, min(SLOW_PER_SLOT * concurrency, pool - concurrency))
        self._results = _GroupCommit(store, COMMIT_LINGER_SECONDS)
        self._signers: OrderedDict[int | None, Signer] = OrderedDict()
        self._signer_lock = asyncio.Lock()
        self._bodies: OrderedDict[int, bytes] = OrderedDict()
        #: Claimed rows not started yet, per host, and their ids.
        self._ready: dict[str, deque[_Ready]] = {}
        self._ready_ids: set[int] = set()
        #: Rows being delivered, by id, with their host, until their outcome is committed;
        #: those whose POST is under way; and POSTs under way per host.
        self._in_flight: dict[int, str] = {}
        self._posting: dict[int, str] = {}
        self._host_load: Counter[str] = Counter()
        #: In-flight rows found slow (they no longer count against `concurrency`), and
        #: the timers that will look at the others.
        self._slow: set[int] = set()
        self._slow_timers: dict[int, asyncio.TimerHandle] = {}
        #: Ready rows being postponed with their host's failure, until that is committed.
        self._settling: set[int] = set()
        #: Rows finished while a claim was reading: its snapshot may predate their
        #: outcome, so they must not be claimed again from it.
        self._finished_while_claiming: set[int] | None = None
        self._claim_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        #: Hosts with a health record in the database (None until loaded), and the
        #: last failure day recorded per host by this process.
        self._failing_hosts: set[str] | None = None
        self._failure_days: OrderedDict[str, date] = OrderedDict()
        self._wake = asyncio.Event()
        self._more_due = False
        self._hosts_with_more: set[str] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- driving ---------------------------------------------------------------------

    async def run_once(self, now: datetime) -> int:
        """Claim the rows due at `now` (up to `claim_window`), deliver them within the
        concurrency limits, wait until all are done, and return how many rows were
        handled (sent, skipped or postponed). Claims are serialised, so this is safe
        while the background loop runs (tests of the whole app use both)."""
        handled = await self._claim(now, lambda: now)
        while self._tasks:
            await asyncio.gather(*self._tasks)
        return handled

    async def run_until_idle(self, now: datetime, *, max_rounds: int = 1000) -> int:
        """`run_once(now)` until nothing more is due at `now`; returns the rows handled."""
        total = 0
        for _ in range(max_rounds):
            handled = await self.run_once(now)
            if not handled:
                return total
            total += handled
        raise RuntimeError(f"deliveries still due after {max_rounds} rounds")

    def wake(self) -> None:
        """Look for due rows now (call after enqueueing in this process)."""
        self._wake.set()

    def start(self) -> None:
        """Start the background loop (inside a running event loop)."""
        if self._loop_task is None:
            self._stopping = False
            self._loop_task = asyncio.create_task(self._run(), name="delivery-worker")

    async def stop(self) -> None:
        """Stop claiming and starting; give in-flight POSTs `shutdown_grace_seconds`,
        then cancel them. Unstarted and cancelled rows stay pending, sent after the
        restart."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
            self._loop_task = None
        self._ready.clear()
        self._ready_ids.clear()
        if self._tasks:
            _, unfinished = await asyncio.wait(
                set(self._tasks), timeout=self.settings.shutdown_grace_seconds
            )
            for task in unfinished:
                task.cancel()
            if unfinished:
                log.info("delivery worker: %d deliveries left pending at shutdown", len(unfinished))
                await asyncio.gather(*unfinished, return_exceptions=True)
        await self._results.drain()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def slow(self) -> int:
        """In-flight POSTs unanswered for `slow_after_seconds` (outside `concurrency`)."""
        return len(self._slow)

    def _active(self) -> int:
        """POSTs under way that count against `concurrency`."""
        return len(self._posting) - len(self._slow)

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self._claim(self._clock(), self._clock)
            except Exception:
                log.exception("delivery worker: claiming due deliveries failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.poll_seconds):
                    await self._wake.wait()
            if not self._stopping:
                await asyncio.sleep(COALESCE_SECONDS)

    # -- claiming and starting -------------------------------------------------------

    async def _claim(self, now: datetime, clock: Callable[[], datetime]) -> int:
        """Read due rows into the ready buffers: skip those of unavailable hosts,
        postpone those of hosts whose breaker is open; then start what the limits allow.
        Returns the number of rows claimed, skipped or postponed."""
        async with self._claim_lock:
            room = self.settings.claim_window - len(self._ready_ids)
            if room <= 0:
                self._more_due = True
                return 0
            full = [
                host for host, queue in self._ready.items() if len(queue) >= self._ready_per_host
            ]
            held = [*self._in_flight, *self._ready_ids, *self._settling]
            self._finished_while_claiming = set()
            try:
                due = await self._store.deliveries.due(
                    now, room, exclude_hosts=full, exclude_ids=held
                )
                handled = await self._take(due, room, full, now)
            finally:
                self._finished_while_claiming = None
            self._start_ready(clock)
            return handled

    async def _take(self, due: list[DueDelivery], room: int, full: list[str], now: datetime) -> int:
        self._more_due = len(due) == room
        # Hosts left out of this claim are assumed to have more rows due.
        self._hosts_with_more = set(full)
        finished = self._finished_while_claiming or set()
        rows = [
            row
            for row in due
            if row.id not in self._in_flight
            and row.id not in self._ready_ids
            and row.id not in self._settling
            and row.id not in finished
        ]
        if not rows:
            return 0
        if self._failing_hosts is None:
            self._failing_hosts = await self._store.deliveries.hosts_with_failures()
        unavailable = await self._store.deliveries.unavailable_among({row.host for row in rows})
        skipped: list[int] = []
        postponed: defaultdict[datetime, list[int]] = defaultdict(list)
        taken: list[DueDelivery] = []
        buffered = Counter({host: len(queue) for host, queue in self._ready.items()})
        for row in rows:
            if row.host in unavailable:
                skipped.append(row.id)
            elif (until := self._open_until(row.host, now)) is not None:
                postponed[until].append(row.id)
            elif len(taken) < room and buffered[row.host] < self._ready_per_host:
                buffered[row.host] += 1
                taken.append(row)
            else:
                self._more_due = True
                self._hosts_with_more.add(row.host)
        deliveries = self._store.deliveries
        if skipped:
            await deliveries.mark_skipped(skipped, reason=HOST_UNAVAILABLE, now=now)
        for until, ids in postponed.items():
            await deliveries.postpone(ids, next_at=until, error="circuit breaker open", now=now)
        bodies = await self._bodies_for({row.outgoing_activity_id for row in taken})
        for row in taken:
            self._ready.setdefault(row.host, deque()).append(
                _Ready(row, bodies[row.outgoing_activity_id])
            )
            self._ready_ids.add(row.id)
        return len(taken) + len(skipped) + sum(len(ids) for ids in postponed.values())

    def _open_until(self, host: str, now: datetime) -> datetime | None:
        """When the host's breaker closes, if it is open now."""
        if self.breakers.host_limit(host, now, 1) == 0:
            return self.breakers.open_until(host)
        return None

    def _start_ready(self, clock: Callable[[], datetime]) -> None:
        """Start ready rows while the global and per-host limits allow (no awaits)."""
        if self._stopping:
            return
        settings = self.settings
        now = clock()
        for host in list(self._ready):
            if self._active() >= settings.concurrency:
                break
            if self._host_load[host] >= settings.per_host_concurrency:
                continue  # busy: the common case with one connection per host
            queue = self._ready[host]
            limit = self.breakers.host_limit(host, now, settings.per_host_concurrency)
            started = False
            while queue and self._host_load[host] < limit and self._active() < settings.concurrency:
                item = queue.popleft()
                self._ready_ids.discard(item.row.id)
                self._start(item, clock)
                started = True
            # Claim more when a host with rows left runs low.
            if (
                started
                and host in self._hosts_with_more
                and len(queue) <= self._ready_per_host // 2
            ):
                self._wake.set()
            if not queue:
                del self._ready[host]
        # Claim more when the buffers run low overall.
        if self._more_due and len(self._ready_ids) < settings.concurrency:
            self._wake.set()

    def _start(self, item: _Ready, clock: Callable[[], datetime]) -> None:
        row = item.row
        self._in_flight[row.id] = row.host
        self._posting[row.id] = row.host
        self._host_load[row.host] += 1
        task = asyncio.create_task(self._deliver(row, item.body, clock), name=f"delivery-{row.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._watch_slow(row.id, clock)

    def _watch_slow(self, row_id: int, clock: Callable[[], datetime]) -> None:
        self._slow_timers[row_id] = asyncio.get_running_loop().call_later(
            self.settings.slow_after_seconds, self._found_slow, row_id, clock
        )

    def _found_slow(self, row_id: int, clock: Callable[[], datetime]) -> None:
        """A POST is still unanswered after `slow_after_seconds` (a dead host accepting
        and never answering, say): it stops counting against `concurrency`, so another
        row may start. When `_max_slow` are slow already it keeps its slot, and is looked
        at again after as long."""
        self._slow_timers.pop(row_id, None)
        if row_id not in self._posting:
            return
        if len(self._slow) < self._max_slow:
            self._slow.add(row_id)
            self._start_ready(clock)
        else:
            self._watch_slow(row_id, clock)

    def _hold_ready(self, host: str) -> list[int]:
        """Take the host's unstarted rows out of the ready buffer, held (no claim reads
        them) until `_postpone_held` has moved them."""
        ids = [item.row.id for item in self._ready.pop(host, ())]
        self._ready_ids.difference_update(ids)
        self._settling.update(ids)
        return ids

    async def _postpone_held(
        self, ids: list[int], next_at: datetime, reason: str, now: datetime
    ) -> None:
        """Move held rows to `next_at`, without counting an attempt: rescheduled
        together, after one attempt that got no answer."""
        try:
            await self._store.deliveries.postpone(
                ids, next_at=next_at, error=f"not tried: another delivery got {reason}", now=now
            )
        finally:
            self._settling.difference_update(ids)
            if self._finished_while_claiming is not None:
                self._finished_while_claiming.update(ids)

    def _drop_ready(self, host: str) -> None:
        """Forget a host's unstarted rows (its breaker opened, or it became unavailable);
        they stay pending in the database for the next claim to deal with."""
        for item in self._ready.pop(host, ()):
            self._ready_ids.discard(item.row.id)

    async def _bodies_for(self, outgoing_ids: set[int]) -> dict[int, bytes]:
        missing = [i for i in outgoing_ids if i not in self._bodies]
        if missing:
            for outgoing_id, body in (await self._store.deliveries.bodies(missing)).items():
                self._bodies[outgoing_id] = body.encode("utf-8")
        found = {}
        for outgoing_id in outgoing_ids:
            self._bodies.move_to_end(outgoing_id)
            found[outgoing_id] = self._bodies[outgoing_id]
        while len(self._bodies) > BODY_CACHE_SIZE:
            self._bodies.popitem(last=False)
        return found

    # -- delivering ------------------------------------------------------------------

    async def _deliver(self, row: DueDelivery, body: bytes, clock: Callable[[], datetime]) -> None:
        """POST one row and record the outcome; never raises (but can be cancelled).

        Its slot (global and per host) is given back as soon as the POST is answered,
        so the next row starts while this outcome waits for its group commit; the row
        stays held (no claim reads it) until the outcome is committed."""
        try:
            try:
                signer = await self._signer_for(row.sender_account_id)
            except SenderUnavailable as exc:
                self._release_slot(row, clock)
                await self._store.deliveries.mark_failed(
                    row.id, reason=str(exc), status=None, error=None, now=clock(), attempted=False
                )
                return
            try:
                result = await self._http.post_activity(
                    row.inbox_url,
                    body,
                    signer=signer,
                    connect_timeout=self.settings.connect_timeout_seconds,
                )
            except FetchError as exc:
                outcome = classify_error(exc)
            else:
                outcome = classify(result)
            now = clock()
            attempt = self._attempt_result(row, outcome, now)
            # No answer at all: the host's other ready rows would fare no better. They
            # wait with this one (taken before the slot is free for them to start).
            no_answer = outcome.host_failure and outcome.status is None
            waiting = self._hold_ready(row.host) if no_answer else []
            self._count_for_breaker(row.host, outcome, now)
            self._release_slot(row, clock)
            await self._record(row, outcome, attempt, waiting, now)
        except Exception:
            log.exception(
                "delivery worker: delivering %s to %s failed", row.activity_id, row.inbox_url
            )
            self._release_slot(row, clock)
            await self._retry_after_bug(row, clock())
        finally:
            self._release_slot(row, clock)
            del self._in_flight[row.id]
            if self._finished_while_claiming is not None:
                self._finished_while_claiming.add(row.id)

    def _release_slot(self, row: DueDelivery, clock: Callable[[], datetime]) -> None:
        """The row's POST is over: free its global and per-host slot, start what may
        start (once per row; later calls do nothing)."""
        if self._posting.pop(row.id, None) is None:
            return
        self._slow.discard(row.id)
        timer = self._slow_timers.pop(row.id, None)
        if timer is not None:
            timer.cancel()
        self._host_load[row.host] -= 1
        if self._host_load[row.host] <= 0:
            del self._host_load[row.host]
        self._start_ready(clock)

    def _attempt_result(self, row: DueDelivery, outcome: Outcome, now: datetime) -> AttemptResult:
        """What to store for the row: delivered, retried at a time, or failed."""
        if outcome.verdict is Verdict.DELIVERED:
            return AttemptResult(row.id, "delivered", outcome.status)
        attempts = row.attempts + 1
        if outcome.verdict is Verdict.GIVE_UP:
            reason = outcome.reason
        elif attempts >= self.settings.max_attempts or (
            outcome.status == 401 and attempts >= self.settings.unauthorized_max_attempts
        ):
            reason = f"gave up after {attempts} attempts: {outcome.reason}"
        else:
            delay = next_attempt_delay(
                attempts,
                self._rng,
                retry_after=outcome.retry_after,
                retry_after_cap=self.settings.retry_after_cap_seconds,
            )
            return AttemptResult(
                row.id,
                "pending",
                outcome.status,
                error=outcome.reason,
                next_attempt_at=now + timedelta(seconds=delay),
            )
        return AttemptResult(row.id, "failed", outcome.status, error=outcome.reason, reason=reason)

    async def _record(
        self,
        row: DueDelivery,
        outcome: Outcome,
        attempt: AttemptResult,
        waiting: list[int],
        now: datetime,
    ) -> None:
        """Update host health, postpone the `waiting` rows of its host, then store the
        row's outcome; returns once committed (the row is held until then, so no claim
        can read it as still pending)."""
        if outcome.host_failure:
            await self._host_failed(row.host, now)
        if waiting:
            next_at = attempt.next_attempt_at or now + timedelta(
                seconds=next_attempt_delay(1, self._rng)
            )
            await self._postpone_held(waiting, next_at, outcome.reason, now)
        await self._results.submit(attempt, now)
        if attempt.state == "delivered":
            await self._host_succeeded(row.host)
            log.debug("delivered %s to %s", row.activity_id, row.inbox_url)
        elif attempt.state == "failed":
            log.info(
                "delivery of %s to %s failed: %s", row.activity_id, row.inbox_url, attempt.reason
            )

    async def _retry_after_bug(self, row: DueDelivery, now: datetime) -> None:
        """An unexpected error (a bug, a database hiccup): try the row again later rather
        than hammering it in a loop; if even that fails it stays due."""
        try:
            delay = next_attempt_delay(row.attempts + 1, self._rng)
            await self._store.deliveries.reschedule(
                row.id,
                next_at=now + timedelta(seconds=delay),
                status=None,
                error="internal error",
                now=now,
            )
        except Exception:
            log.exception("delivery worker: rescheduling delivery %s failed", row.id)

    # -- host health -----------------------------------------------------------------

    def _count_for_breaker(self, host: str, outcome: Outcome, now: datetime) -> None:
        """Feed the host's breaker (before the slot is free: an opening breaker must
        stop the host's next row from starting)."""
        if not outcome.host_failure:
            self.breakers.record_success(host)
        elif self.breakers.record_failure(host, now):
            self._drop_ready(host)
            log.warning(
                "delivery worker: circuit breaker for %s open for %g s",
                host,
                self.settings.breaker_cool_off_seconds,
            )

    async def _host_failed(self, host: str, now: datetime) -> None:
        """Record today as a failure day of the host (once a day per host)."""
        day = now.astimezone(UTC).date()
        if self._failure_days.get(host) == day:
            return  # today's failure is already recorded
        self._failure_days[host] = day
        self._failure_days.move_to_end(host)
        while len(self._failure_days) > FAILURE_DAY_MEMORY:
            self._failure_days.popitem(last=False)
        if self._failing_hosts is not None:
            self._failing_hosts.add(host)
        became_unavailable = await self._store.deliveries.record_failure(
            host, day, unavailable_after_days=self.settings.unavailable_after_days, now=now
        )
        if became_unavailable:
            self.breakers.forget(host)
            self._drop_ready(host)
            log.warning(
                "delivery worker: %s failed on %d distinct days: unavailable, its deliveries"
                " are skipped until it answers or sends a signed request",
                host,
                self.settings.unavailable_after_days,
            )

    async def _host_succeeded(self, host: str) -> None:
        """Clear the host's failure record, writing only when this process knows of one."""
        self._failure_days.pop(host, None)
        if self._failing_hosts is not None and host in self._failing_hosts:
            self._failing_hosts.discard(host)
            await self._store.deliveries.record_success(host)

    # -- signing ---------------------------------------------------------------------

    async def _signer_for(self, sender_account_id: int | None) -> Signer:
        """The sender's signer, parsing its key once for the worker's lifetime."""
        signer = self._signers.get(sender_account_id)
        if signer is None:
            async with self._signer_lock:
                signer = self._signers.get(sender_account_id)
                if signer is None:
                    signer = await self._load_signer(sender_account_id)
                    self._signers[sender_account_id] = signer
                    while len(self._signers) > SIGNER_CACHE_SIZE:
                        self._signers.popitem(last=False)
        self._signers.move_to_end(sender_account_id)
        return signer

    async def _load_signer(self, sender_account_id: int | None) -> Signer:
        if sender_account_id is None:
            key_id = self._urls.instance_main_key()
            if self._instance_key is not None:
                return make_signer(key_id, self._instance_key, self._clock)
        else:
            account = await self._store.accounts.by_id(sender_account_id)
            if account is None or not account.is_local:
                raise SenderUnavailable(
                    f"sender account {sender_account_id} is not a local account"
                )
            key_id = self._urls.main_key(account.username)
        rows = await self._store.accounts.keypairs(sender_account_id)
        if RSA not in rows:
            raise SenderUnavailable("the sender has no RSA key to sign with")
        # Loading an RSA key checks it (milliseconds of CPU): keep it off the event loop.
        private_key = await asyncio.to_thread(load_private_key, rows[RSA].private_key_pem)
        return make_signer(key_id, private_key, self._clock)


async def delivery_worker_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the delivery worker in the background while the app runs (appended last, so
    it stops first, before the HTTP client and the database close)."""
    config = app[config_key]
    settings = DeliverySettings(
        **{name: getattr(config.delivery, name) for name in DeliverySettings.__dataclass_fields__}
    )
    worker = DeliveryWorker(
        app[store_key],
        app[http_client_key],
        base_url=config.base_url,
        clock=app[clock_key],
        settings=settings,
        instance_key=app[instance_actor_key].keys.rsa,
    )
    app[delivery_worker_key] = worker
    if config.delivery.enabled:
        worker.start()
    try:
        yield
    finally:
        await worker.stop()
