"""Processing the inbox queue in the background.

Items are taken oldest first and processed in order (ordering matters: a Create before
its Update). A run of consecutive Creates of notes by their own, known authors is stored
together (`inbox.batch`: one read and one write transaction for the run, the items'
states committed with what they wrote); anything else is processed on its own. Each ends
as `done`, `ignored` (with the reason: unsupported, not
authorised, refers to nothing we have) or, after retries, `failed`: the dead letter, with
why. Network trouble is retried with backoff; a bad document is not. `run_once` lets
tests drive one round deterministically.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from actors.remote import REFRESH_AFTER
from fedserver.db import InboxItem, Store
from fedserver.domains import DomainPolicy
from fedserver.errors import FedError, FetchError, NotFound
from fedserver.http import FetchStatusError
from fedserver.ids import Clock
from inbox.batch import Finished, PendingCreate, store_creates, trusted_note
from inbox.context import InboxContext
from inbox.dispatch import dispatch
from inbox.parse import Envelope, parse_envelope

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BATCH = 50
IDLE_POLL_SECONDS = 1.0
#: Envelopes parsed by the inbox view, kept for the worker so it need not parse the stored
#: body again (about 1 KiB of objects each; beyond this many, the oldest are dropped and
#: the worker parses those bodies itself).
MAX_PARSED = 2048
#: Before a round that is not full, how long the worker lets more items arrive: a round
#: costs about ten trips to the database whatever its size, so under load it should
#: take many items at once; an activity waits at most this much longer to be processed.
GATHER_SECONDS = 0.03
#: Creates prepared for a run between two turns of the event loop.
YIELD_EVERY = 10


def retry_delay(attempt: int) -> timedelta:
    """30 s, 1 min, 2 min ... capped at 6 h: 8 attempts span about 4 hours."""
    return timedelta(seconds=min(30 * 2**attempt, 6 * 3600))


class InboxWorker:
    def __init__(
        self,
        store: Store,
        make_context: Callable[[datetime], InboxContext],
        policy: DomainPolicy,
        clock: Clock,
    ) -> None:
        self._store = store
        self._make_context = make_context
        self._policy = policy
        self._clock = clock
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._parsed: dict[int, Envelope] = {}

    def wake(self) -> None:
        """Something was enqueued: process it now rather than at the next poll."""
        self._wake.set()

    def received(self, item_id: int, envelope: Envelope) -> None:
        """Item `item_id` was stored, and this is its body parsed: process it soon, from
        this parse (the document is only read from here on)."""
        if len(self._parsed) >= MAX_PARSED:
            # The oldest goes: an item the worker took before this call (it can, while
            # the view awaited the commit) is never popped by it, and must not stay.
            del self._parsed[next(iter(self._parsed))]
        self._parsed[item_id] = envelope
        self._wake.set()

    async def run_once(self, *, gather: float = 0.0) -> int:
        """Process every item due now; returns how many were handled.

        The states of a round's items are written together when the round ends (one
        transaction, not one per item). A crash before that processes them again after
        the restart: at least once, and handlers are idempotent. With `gather`, a round
        that was not full is followed by that many seconds for more items to arrive
        (the background loop's pacing; tests drive rounds without it).
        """
        async with self._lock:
            handled = 0
            while True:
                items = await self._store.inbox.due(self._clock(), BATCH)
                if not items:
                    return handled
                if gather and len(items) < BATCH:
                    await asyncio.sleep(gather)
                    items = await self._store.inbox.due(self._clock(), BATCH)
                finished: list[Finished] = []
                together = True
                try:
                    index = 0
                    while index < len(items):
                        done = 0
                        if together:
                            try:
                                done = await self._store_run(items, index)
                            except Exception:
                                # Nothing of the run was written: the round's items go
                                # one by one, each with its own retries and dead letter.
                                log.exception("storing Creates together failed")
                                together = False
                        if not done:
                            item = items[index]
                            outcome = await self._process(item)
                            if outcome is not None:
                                finished.append((item.id, *outcome))
                            done = 1
                        for item in items[index : index + done]:
                            self._parsed.pop(item.id, None)
                        index += done
                        handled += done
                finally:
                    # Also when cancelled or failing mid-round: what was done is kept.
                    await self._store.inbox.finish_many(finished)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once(gather=GATHER_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("inbox worker round failed; continuing")
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that
            # arrives as the wake-up completes (CPython gh-86296), and a server stopping
            # just as an activity came in would wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_POLL_SECONDS):
                    await self._wake.wait()
            self._wake.clear()

    async def _process(self, item: InboxItem) -> tuple[str, str | None] | None:
        """Handle one item; returns its final (state, note) for the caller to store, or
        None when it was rescheduled (stored at once)."""
        now = self._clock()
        try:
            outcome = await self._handle(item, now)
        except FetchStatusError as exc:
            if exc.is_gone:
                return "ignored", exc.detail
            return await self._retry(item, now, exc.detail)
        except FetchError as exc:
            return await self._retry(item, now, exc.detail)
        except FedError as exc:
            return "ignored", exc.detail
        except Exception as exc:
            log.exception("processing %s (%s) failed", item.activity_id, item.activity_type)
            return await self._retry(item, now, f"internal error: {exc!r}")
        return ("done" if outcome is None else "ignored"), outcome

    async def _store_run(self, items: list[InboxItem], start: int) -> int:
        """Store the run of trusted Creates that starts at `items[start]` together
        (their states included); returns how many items were handled, 0 when
        `items[start]` is to be processed on its own."""
        ctx = self._make_context(self._clock())
        run: list[PendingCreate] = []
        for item in items[start:]:
            pending = await self._pending_create(ctx, item)
            if pending is None:
                break
            run.append(pending)
            if len(run) % YIELD_EVERY == 0:
                # Parsing a note (its HTML cleaned) takes ~0.1 ms: let requests in
                # between, so a long run does not hold up their answers.
                await asyncio.sleep(0)
        if not run:
            return 0
        return len(await store_creates(ctx, run))

    async def _pending_create(self, ctx: InboxContext, item: InboxItem) -> PendingCreate | None:
        """The item as a Create `store_creates` can take, else None: what `_handle`
        would do for it, up to the handler, without any fetch."""
        if item.activity_type != "Create":
            return None
        try:
            envelope = self._envelope(item)
        except FedError:
            return None
        if self._policy.is_url_blocked(envelope.actor) or ctx.actors.is_local(envelope.actor):
            return None
        actor = await ctx.actors.known(envelope.actor)
        if (
            actor is None
            or actor.is_deleted
            or actor.fetched_at is None
            or ctx.now - actor.fetched_at > REFRESH_AFTER
        ):
            return None  # `RemoteActors.get` would fetch it, or the handler says why not
        author_uri = ctx.actor_uri(actor)
        note = trusted_note(envelope.document, author_uri)
        return None if note is None else PendingCreate(item, actor, author_uri, note)

    def _envelope(self, item: InboxItem) -> Envelope:
        """The item's envelope: as the view parsed it, else parsed from the stored body."""
        envelope = self._parsed.get(item.id)
        if envelope is not None and envelope.id == item.activity_id:
            return envelope
        return parse_envelope(item.body.encode("utf-8"))

    async def _handle(self, item: InboxItem, now: datetime) -> str | None:
        envelope = self._envelope(item)
        if self._policy.is_url_blocked(envelope.actor):
            return "the actor's domain is blocked"
        ctx = self._make_context(now)
        try:
            actor = await ctx.actors.get(envelope.actor)
        except NotFound:
            return "the actor no longer exists"
        if actor.is_deleted and envelope.type != "Delete":
            return "the actor was deleted"
        return await dispatch(ctx, envelope.document, envelope.type, actor)

    async def _retry(
        self, item: InboxItem, now: datetime, error: str
    ) -> tuple[str, str | None] | None:
        if item.attempts + 1 >= MAX_ATTEMPTS:
            return "failed", f"gave up after {MAX_ATTEMPTS} attempts: {error}"
        await self._store.inbox.retry_later(
            item.id, at=now + retry_delay(item.attempts), error=error
        )
        return None
