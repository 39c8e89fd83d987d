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

    async def dispatch_once(self) -> int:
        moved = await scripts.dispatch_due.run(
            self._redis,
            [self._keys.due, self._keys.idle, self._keys.max_duration, self._keys.jobs],
            [time.time(), BATCH, self._cfg.stream_max_len],
        )
        return int(moved)

    async def run(self) -> None:
        while True:
            try:
                # A full batch means more may be due right now: poll again without sleeping.
                if await self.dispatch_once() >= BATCH:
                    continue
            except RedisError as exc:
                self.redis_errors += 1
                log.warning("cannot dispatch due sessions: %s", exc)
            await asyncio.sleep(self._cfg.poll_interval_s)
