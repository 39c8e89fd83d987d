"""Triggers, second half: sessions whose settle delay, idle timeout or maximum duration has passed
move to their shard's job stream. (The first half, scheduling them, runs with the buffer write: see
buffer.store.) With spans held for their verdict, held spans past their time are released too:
sessions past forwarding.hold_max_s, traces past their orphan TTL."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from collector_eval.sessions import scripts
from collector_eval.sessions.keys import Keys
from collector_eval.sessions.options import JobsConfig, SessionConfig
from collector_eval.store.client import Client, log_failure

log = logging.getLogger(__name__)

BATCH = 100


@dataclass
class Overdue:
    """What the poller releases when spans are held for their verdict (forwarding.mode on_verdict)."""

    session: SessionConfig  # ttl_s: how long a trace queued for release is kept meanwhile
    drop_without_session: bool  # forwarding.without_session: drop


class DuePoller:
    def __init__(self, client: Client, keys: Keys, cfg: JobsConfig, overdue: Overdue | None = None):
        self._redis = client
        self._keys = keys
        self._cfg = cfg
        self._overdue = overdue
        self.redis_errors = 0  # read by the metrics collector
        # Read by the metrics collector: sessions released for want of a verdict, and traces without
        # a session queued for release or dropped.
        self.sessions_overdue = 0
        self.traces_forwarded = 0
        self.traces_dropped = 0
        self._wake = asyncio.Event()

    async def dispatch_once(self) -> float | None:
        """Move what is due to the job streams; returns when the next one is due (now, when a shard
        had more due than one batch)."""
        now = time.time()
        replies = await asyncio.gather(
            *(
                scripts.dispatch_due.run(
                    self._redis,
                    [shard.due, shard.idle, shard.max_duration, shard.jobs, shard.orphans],
                    [now, BATCH, self._cfg.stream_max_len, int(self._overdue is None)],
                )
                for shard in self._keys.shards
            )
        )
        waiting = [float(next_due) for _, next_due in replies if next_due]
        if any(int(m) >= BATCH for m, _ in replies):
            waiting.append(now)
        if self._overdue is not None and await self._release_overdue(now):
            waiting.append(now)
        return min(waiting, default=None)

    async def _release_overdue(self, now: float) -> bool:
        """Queue overdue sessions and traces for release; True when a shard had more than a batch."""
        overdue = self._overdue
        assert overdue is not None
        drop = b"1" if overdue.drop_without_session else b"0"
        replies = await asyncio.gather(
            *(
                scripts.release_overdue.run(
                    self._redis,
                    [shard.hold, shard.orphans, shard.release],
                    [now, BATCH, shard.tag, drop, int(overdue.session.ttl_s)],
                )
                for shard in self._keys.shards
            )
        )
        for sessions, forwarded, dropped in replies:
            self.sessions_overdue += sessions
            self.traces_forwarded += forwarded
            self.traces_dropped += dropped
        return any(max(sessions, forwarded + dropped) >= BATCH for sessions, forwarded, dropped in replies)

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
