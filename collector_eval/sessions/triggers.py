"""Triggers, second half: sessions whose settle delay, idle timeout or maximum duration has passed
move to their shard's job stream. (The first half, scheduling them, runs with the buffer write: see
buffer.store.)"""

from __future__ import annotations

import asyncio
import logging
import time

from collector_eval.sessions import scripts
from collector_eval.sessions.keys import Keys
from collector_eval.sessions.options import JobsConfig
from collector_eval.store.client import Client, log_failure

log = logging.getLogger(__name__)

BATCH = 100


class DuePoller:
    def __init__(self, client: Client, keys: Keys, cfg: JobsConfig):
        self._redis = client
        self._keys = keys
        self._cfg = cfg
        self.redis_errors = 0  # read by the metrics collector
        self._wake = asyncio.Event()

    async def dispatch_once(self) -> float | None:
        """Move what is due to the job streams; returns when the next one is due (now, when a shard
        had more due than one batch)."""
        now = time.time()
        replies = await asyncio.gather(
            *(
                scripts.dispatch_due.run(
                    self._redis,
                    [shard.due, shard.idle, shard.max_duration, shard.jobs],
                    [now, BATCH, self._cfg.stream_max_len],
                )
                for shard in self._keys.shards
            )
        )
        waiting = [float(next_due) for _, next_due in replies if next_due]
        if any(int(m) >= BATCH for m, _ in replies):
            waiting.append(now)
        return min(waiting, default=None)

    def wake(self) -> None:
        """A session was just scheduled here: look at when it is due instead of sleeping on."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            wait = self._cfg.poll_interval_s
            try:
                next_due = await self.dispatch_once()
                if next_due is not None:
                    # Sleep to the next due time when it comes before the next poll: a short settle
                    # delay is then not rounded up to the poll interval.
                    wait = min(wait, max(0.0, next_due - time.time()))
            except Exception as exc:
                self.redis_errors += log_failure(log, "cannot dispatch due sessions", exc)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass
