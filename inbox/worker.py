"""Processing the inbox queue in the background.

Items are taken oldest first and processed one at a time (ordering matters: a Create
before its Update). Each ends as `done`, `ignored` (with the reason: unsupported, not
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

from fedserver.db import InboxItem, Store
from fedserver.domains import DomainPolicy
from fedserver.errors import FedError, FetchError, NotFound
from fedserver.http import FetchStatusError
from fedserver.ids import Clock
from inbox.context import InboxContext
from inbox.dispatch import dispatch
from inbox.parse import parse_envelope

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BATCH = 50
IDLE_POLL_SECONDS = 1.0


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

    def wake(self) -> None:
        """Something was enqueued: process it now rather than at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """Process every item due now; returns how many were handled.

        The states of a round's items are written together when the round ends (one
        transaction, not one per item). A crash before that processes them again after
        the restart: at least once, and handlers are idempotent.
        """
        async with self._lock:
            handled = 0
            while True:
                items = await self._store.inbox.due(self._clock(), BATCH)
                if not items:
                    return handled
                finished: list[tuple[int, str, str | None]] = []
                try:
                    for item in items:
                        outcome = await self._process(item)
                        if outcome is not None:
                            finished.append((item.id, *outcome))
                        handled += 1
                finally:
                    # Also when cancelled or failing mid-round: what was done is kept.
                    await self._store.inbox.finish_many(finished)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("inbox worker round failed; continuing")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), IDLE_POLL_SECONDS)
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

    async def _handle(self, item: InboxItem, now: datetime) -> str | None:
        envelope = parse_envelope(item.body.encode("utf-8"))
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
