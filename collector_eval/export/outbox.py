"""Results out: verdicts wait in the outbox stream until every configured exporter has accepted
them, so a downstream outage delays verdicts and a crash loses none; the console exporter prints
them to stdout, one JSON object per line. Each evaluation backend (Phoenix, Langfuse, Datadog) reads
an outbox of its own the same way, so one that is down holds back no other."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import sys
from typing import TextIO

from collector_eval.backoff import Backoff
from collector_eval.export.backends.base import Backend
from collector_eval.export.delivery import Outcome, deliver
from collector_eval.export.destinations import Destination
from collector_eval.export.results import records_from_json
from collector_eval.otlp.signals import Signal
from collector_eval.store.client import REDIS_ERRORS, log_failure
from collector_eval.store.streams import Message, StreamGroup

log = logging.getLogger(__name__)

GROUP = "publishers"
BATCH = 16
ACK_BACKOFF = Backoff(initial_s=0.1, max_s=2.0)


class _OutboxReader:
    """Reads one outbox stream per shard through the publishers' consumer group, publishes each entry,
    and acknowledges it once published: an entry whose reader died is taken over, never lost. While
    an entry is being delivered (retried for as long as the downstream is down) its claim is kept
    fresh, so no other process takes over a delivery that is still going on."""

    def __init__(self, outboxes: list[StreamGroup], poll_interval_s: float):
        self._outboxes = outboxes  # one per shard
        self._poll_ms = max(1, int(poll_interval_s * 1000))
        self.redis_errors = 0

    async def run(self) -> None:
        await asyncio.gather(
            *(self._drain(outbox) for outbox in self._outboxes),
            *(outbox.keep_claims_fresh() for outbox in self._outboxes),
        )

    async def stop(self) -> None:
        """After run was cancelled: the deliveries cut short are left to the other processes at once."""
        for outbox in self._outboxes:
            await outbox.abandon()

    async def _drain(self, outbox: StreamGroup) -> None:
        while True:
            try:
                messages = await outbox.next_batch(BATCH, self._poll_ms)
                await asyncio.gather(*(self._publish_and_ack(outbox, m) for m in messages))
            except Exception as exc:
                self.redis_errors += log_failure(log, "cannot read the outbox", exc)
                await asyncio.sleep(1)

    async def _publish_and_ack(self, outbox: StreamGroup, message: Message) -> None:
        message_id, fields = message
        try:
            await self._publish(message_id.decode(), fields)
        except Exception:
            outbox.release(message_id)  # taken over and sent again after the visibility timeout
            raise
        # Published now: an acknowledgement lost to a Redis outage would leave the entry to be
        # reclaimed and sent again, so it is retried until Redis takes it.
        for attempt in itertools.count(1):
            try:
                await outbox.ack(message_id)
                return
            except REDIS_ERRORS as exc:
                self.redis_errors += 1
                log.warning("cannot acknowledge verdict %s yet: %s", message_id.decode(), exc)
                await asyncio.sleep(ACK_BACKOFF.delay(attempt))

    async def _publish(self, message_id: str, fields: dict[bytes, bytes]) -> None:
        raise NotImplementedError


class OutboxPublisher(_OutboxReader):
    def __init__(
        self,
        outboxes: list[StreamGroup],  # one per shard
        destinations: list[Destination],
        console: bool,
        poll_interval_s: float,
        stream: TextIO | None = None,  # None: whatever sys.stdout is when a verdict is printed
        as_spans: bool = True,  # exporters.otlp.results_as holds span (log records go whenever the entry has them)
    ):
        super().__init__(outboxes, poll_interval_s)
        self._destinations = destinations
        self._console = console
        self._as_spans = as_spans
        self._stream = stream
        self.published = 0
        self.dropped = 0

    async def _publish(self, message_id: str, fields: dict[bytes, bytes]) -> None:
        if self._console:
            stream = self._stream or sys.stdout
            stream.write(fields[b"json"].decode() + "\n")
            stream.flush()
        sends = [(fields[b"otlp"], Signal.TRACES)] if self._as_spans else []
        if fields.get(b"logs"):
            sends.append((fields[b"logs"], Signal.LOGS))
        delivered = await asyncio.gather(
            *(d.send(payload, signal, max_elapsed_s=math.inf) for d in self._destinations for payload, signal in sends)
        )
        if all(delivered):
            self.published += 1
        else:
            # Only a downstream that refuses the request itself (not an outage) gets here: retrying
            # the same bytes would block every verdict behind it.
            self.dropped += 1
            log.error("verdict %s refused by a downstream; dropped there", message_id)


class BackendPublisher(_OutboxReader):
    """Feeds one evaluation backend from its own outbox: retried until the backend takes a verdict's
    results (or refuses them), like a verdict sent to an OTLP downstream."""

    def __init__(self, backend: Backend, outboxes: list[StreamGroup], poll_interval_s: float):
        super().__init__(outboxes, poll_interval_s)
        self.backend = backend
        # Read by the metrics collector: results the backend took, attempts it asked to retry, and
        # results it refused.
        self.sent = 0
        self.retried = 0
        self.failed = 0

    async def _publish(self, message_id: str, fields: dict[bytes, bytes]) -> None:
        records = records_from_json(fields[b"records"])

        async def attempt() -> Outcome:
            outcome = await self.backend.attempt(records)
            self.retried += outcome.retry
            return outcome

        if await deliver(attempt, self.backend.name, math.inf):
            self.sent += len(records)
        else:
            self.failed += len(records)
