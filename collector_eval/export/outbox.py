"""Results out: verdicts wait in the outbox stream until every configured exporter has accepted
them, so a downstream outage delays verdicts and a crash loses none; the console exporter prints
them to stdout, one JSON object per line."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import sys
from typing import TextIO

from collector_eval.backoff import Backoff
from collector_eval.export.destinations import Destination
from collector_eval.store.client import REDIS_ERRORS, log_failure
from collector_eval.store.streams import Message, StreamGroup

log = logging.getLogger(__name__)

GROUP = "publishers"
BATCH = 16
ACK_BACKOFF = Backoff(initial_s=0.1, max_s=2.0)


class OutboxPublisher:
    def __init__(
        self,
        outboxes: list[StreamGroup],  # one per shard
        destinations: list[Destination],
        console: bool,
        poll_interval_s: float,
        stream: TextIO | None = None,  # None: whatever sys.stdout is when a verdict is printed
    ):
        self._outboxes = outboxes
        self._destinations = destinations
        self._console = console
        self._poll_ms = max(1, int(poll_interval_s * 1000))
        self._stream = stream
        self.published = 0
        self.dropped = 0
        self.redis_errors = 0

    async def run(self) -> None:
        await asyncio.gather(*(self._drain(outbox) for outbox in self._outboxes))

    async def _drain(self, outbox: StreamGroup) -> None:
        while True:
            try:
                messages = await outbox.next_batch(BATCH, self._poll_ms)
                await asyncio.gather(*(self._publish(outbox, m) for m in messages))
            except Exception as exc:
                self.redis_errors += log_failure(log, "cannot read the outbox", exc)
                await asyncio.sleep(1)

    async def _publish(self, outbox: StreamGroup, message: Message) -> None:
        message_id, fields = message
        if self._console:
            stream = self._stream or sys.stdout
            stream.write(fields[b"json"].decode() + "\n")
            stream.flush()
        delivered = await asyncio.gather(*(d.send(fields[b"otlp"], max_elapsed_s=math.inf) for d in self._destinations))
        if all(delivered):
            self.published += 1
        else:
            # Only a downstream that refuses the request itself (not an outage) gets here: retrying
            # the same bytes would block every verdict behind it.
            self.dropped += 1
            log.error("verdict %s refused by a downstream; dropped there", message_id.decode())
        await self._ack(outbox, message_id)

    async def _ack(self, outbox: StreamGroup, message_id: bytes) -> None:
        # The downstream has the verdict now: an acknowledgement lost to a Redis outage would leave
        # the entry to be reclaimed and sent again, so it is retried until Redis takes it.
        for attempt in itertools.count(1):
            try:
                await outbox.ack(message_id)
                return
            except REDIS_ERRORS as exc:
                self.redis_errors += 1
                log.warning("cannot acknowledge verdict %s yet: %s", message_id.decode(), exc)
                await asyncio.sleep(ACK_BACKOFF.delay(attempt))
