"""Results out: verdicts wait in the outbox stream until every configured exporter has accepted
them, so a downstream outage delays verdicts and a crash loses none; the console exporter prints
them to stdout, one JSON object per line. Each evaluation backend (Phoenix, Langfuse, Datadog) reads
an outbox of its own the same way, so one that is down holds back no other."""

from __future__ import annotations

import asyncio
import logging
import math
import sys
from typing import TextIO

from collector_eval.export.backends.base import Backend
from collector_eval.export.delivery import Outcome, deliver
from collector_eval.export.destinations import Routes
from collector_eval.export.results import records_from_json
from collector_eval.otlp.signals import Signal
from collector_eval.store.streams import StreamConsumer, StreamGroup

log = logging.getLogger(__name__)

GROUP = "publishers"


class OutboxPublisher(StreamConsumer):
    def __init__(
        self,
        outboxes: list[StreamGroup],  # one per shard
        destinations: Routes,  # the default exporters; a verdict goes to the named ones its entry lists too
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

    async def _handle(self, message_id: str, fields: dict[bytes, bytes]) -> None:
        if self._console:
            stream = self._stream or sys.stdout
            stream.write(fields[b"json"].decode() + "\n")
            stream.flush()
        sends = [(fields[b"otlp"], Signal.TRACES)] if self._as_spans else []
        if fields.get(b"logs"):
            sends.append((fields[b"logs"], Signal.LOGS))
        # The named exporters a keep rule sent the session's spans to get its verdict as well.
        named = tuple(filter(None, fields.get(b"to", b"").decode().split(",")))
        routes = [()] + ([named] if named else [])
        delivered = await asyncio.gather(
            *(self._destinations.send(names, payload, signal) for names in routes for payload, signal in sends)
        )
        if all(delivered):
            self.published += 1
        else:
            # Only a downstream that refuses the request itself (not an outage) gets here: retrying
            # the same bytes would block every verdict behind it.
            self.dropped += 1
            log.error("verdict %s refused by a downstream; dropped there", message_id)


class BackendPublisher(StreamConsumer):
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

    async def _handle(self, message_id: str, fields: dict[bytes, bytes]) -> None:
        records = records_from_json(fields[b"records"])

        async def attempt() -> Outcome:
            outcome = await self.backend.attempt(records)
            self.retried += outcome.retry
            return outcome

        if await deliver(attempt, self.backend.name, math.inf):
            self.sent += len(records)
        else:
            self.failed += len(records)
