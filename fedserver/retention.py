"""The server's periodic prune: finished queue rows deleted, then the WAL truncated.

The deleting is `fedserver.db.retention` (every SQL string, in batches that hold the
writer briefly); this module decides when. `fedserver prune` calls the same
`Store.retention.prune` on demand.
"""

from __future__ import annotations

import asyncio
import logging
import time

from fedserver.db import PruneReport, RetentionPolicy, Store
from fedserver.ids import Clock

log = logging.getLogger(__name__)

#: The first prune runs this long after start (or one interval, if shorter): a restart
#: with a backlog drains it first.
FIRST_RUN_DELAY_SECONDS = 60.0


class Pruner:
    """Prunes `store` by `policy` at the time `clock` tells, one prune at a time."""

    def __init__(self, store: Store, policy: RetentionPolicy, clock: Clock) -> None:
        self._store = store
        self.policy = policy
        self._clock = clock
        self._lock = asyncio.Lock()

    async def run_once(self) -> PruneReport:
        """Prune everything due now, then checkpoint the WAL (cheap once the automatic
        checkpoints ran: it copies what is left and truncates the -wal file, so a burst
        never leaves a large one behind)."""
        async with self._lock:
            started = time.perf_counter()
            report = await self._store.retention.prune(self.policy, self._clock())
            truncated = await self._store.retention.checkpoint()
            level = logging.INFO if report.total else logging.DEBUG
            log.log(
                level,
                "pruned %d rows in %.2f s (%d batches, longest %.1f ms)%s",
                report.total,
                time.perf_counter() - started,
                report.batches,
                report.longest_batch_seconds * 1000,
                "" if truncated else "; the WAL was in use and is truncated next time",
            )
            return report

    async def run_forever(self, interval_seconds: float) -> None:
        await asyncio.sleep(min(FIRST_RUN_DELAY_SECONDS, interval_seconds))
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("pruning failed; trying again at the next interval")
            await asyncio.sleep(interval_seconds)
