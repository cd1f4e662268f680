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
        """Process every item due now; returns how many were handled."""
        async with self._lock:
            handled = 0
            while True:
                items = await self._store.inbox.due(self._clock(), BATCH)
                if not items:
                    return handled
                for item in items:
                    await self._process(item)
                    handled += 1

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

    async def _process(self, item: InboxItem) -> None:
        now = self._clock()
        try:
            outcome = await self._handle(item, now)
        except FetchStatusError as exc:
            if exc.is_gone:
                await self._store.inbox.finish(item.id, state="ignored", note=exc.detail)
            else:
                await self._retry(item, now, exc.detail)
        except FetchError as exc:
            await self._retry(item, now, exc.detail)
        except FedError as exc:
            await self._store.inbox.finish(item.id, state="ignored", note=exc.detail)
        except Exception as exc:
            log.exception("processing %s (%s) failed", item.activity_id, item.activity_type)
            await self._retry(item, now, f"internal error: {exc!r}")
        else:
            state = "done" if outcome is None else "ignored"
            await self._store.inbox.finish(item.id, state=state, note=outcome)

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

    async def _retry(self, item: InboxItem, now: datetime, error: str) -> None:
        if item.attempts + 1 >= MAX_ATTEMPTS:
            await self._store.inbox.finish(
                item.id, state="failed", note=f"gave up after {MAX_ATTEMPTS} attempts: {error}"
            )
        else:
            await self._store.inbox.retry_later(
                item.id, at=now + retry_delay(item.attempts), error=error
            )
