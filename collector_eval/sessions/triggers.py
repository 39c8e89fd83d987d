"""Triggers, second half: sessions whose settle delay, idle timeout or maximum duration has passed
move to the job stream. (The first half, scheduling them, runs with the buffer write: see
buffer.store.)"""
from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from collector_eval.config import JobsConfig
from collector_eval.sessions import scripts
from collector_eval.sessions.keys import Keys

log = logging.getLogger("collector_eval.triggers")

BATCH = 100


class DuePoller:
    def __init__(self, client: aioredis.Redis, keys: Keys, cfg: JobsConfig):
        self._redis = client
        self._keys = keys
        self._cfg = cfg
        self.redis_errors = 0  # read by the metrics collector
        self._wake = asyncio.Event()

    async def dispatch_once(self) -> tuple[int, float | None]:
        """Move what is due to the job stream: how many moved, and when the next one is due."""
        moved, next_due = await scripts.dispatch_due.run(
            self._redis,
            [self._keys.due, self._keys.idle, self._keys.max_duration, self._keys.jobs],
            [time.time(), BATCH, self._cfg.stream_max_len],
        )
        return int(moved), float(next_due) if next_due else None

    def wake(self) -> None:
        """A session was just scheduled here: look at when it is due instead of sleeping on."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            wait = self._cfg.poll_interval_s
            try:
                moved, next_due = await self.dispatch_once()
                if moved >= BATCH:
                    continue  # more may be due right now
                if next_due is not None:
                    # Sleep to the next due time when it comes before the next poll: a short settle
                    # delay is then not rounded up to the poll interval.
                    wait = min(wait, max(0.0, next_due - time.time()))
            except RedisError as exc:
                self.redis_errors += 1
                log.warning("cannot dispatch due sessions: %s", exc)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except asyncio.TimeoutError:
                pass
