"""The release of held spans (forwarding.mode on_verdict): a session's spans go downstream once its
verdict keeps it, a trace's once its orphan TTL passed without a session; spans that reach a kept
session later follow it.

Entries come from the shard's release stream (written by the commit of a verdict, by the store
script for late spans, and by RELEASE_OVERDUE), read through a consumer group: an entry whose
process died is taken over. What was sent is marked in the hash that holds the chunk ("x" + the
chunk's field) right after the downstream took it, so a takeover sends only what was not: a process
killed mid-release leaves at most the request in flight at that instant to be sent twice. Releases of
one hash never run at once (a Redis lock, held while its process lives)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import cast

from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from redis.asyncio.lock import Lock

from collector_eval.model import ForwardingDecision
from collector_eval.sessions.buffer import SPANS, unpack
from collector_eval.sessions.keys import Keys, parse_session_member
from collector_eval.store.client import Client
from collector_eval.store.streams import StreamConsumer, StreamGroup

log = logging.getLogger(__name__)

GROUP = "releasers"
# What one request downstream carries at most, unless a single chunk (one request as it came) is larger.
REQUEST_BYTES = 1 << 20
# Chunks read from Redis per round trip.
READ_BATCH = 32
SENT = b"x"  # the mark of a sent chunk: this, then the chunk's field

# Sends one OTLP traces request to the named exporters (none: the default ones), retried until they
# take it; False once one refused it outright.
Send = Callable[[tuple[str, ...], bytes], Awaitable[bool]]


class Releaser(StreamConsumer):
    def __init__(
        self,
        client: Client,
        keys: Keys,
        streams: list[StreamGroup],  # one per shard
        send: Send,
        poll_interval_s: float,
        lease_s: float,  # how long a dead process's lock on a session outlives it
    ):
        super().__init__(streams, poll_interval_s)
        self._redis = client
        self._keys = keys
        self._send = send
        self._lease_s = lease_s
        # Read by the metrics collector: spans and bytes sent for kept sessions (late: after the
        # session's first release), for traces without a session, and spans a downstream refused.
        self.spans_kept = 0
        self.bytes_kept = 0
        self.spans_late = 0
        self.spans_without_session = 0
        self.spans_refused = 0

    async def _handle(self, message_id: str, fields: dict[bytes, bytes]) -> None:
        if b"trace" in fields:
            key = fields[b"trace"]
            if await self._redis.hexists(key, "joined"):
                return  # joined a session since its orphan TTL passed: it goes (or not) with the session
            self.spans_without_session += (await self._release_hash(key, ()))[0]
            return
        key = self._keys.session(parse_session_member(fields[b"session"]))
        raw = await self._redis.hget(key, "decision")
        if raw is None:
            return  # gone (its TTL passed), or not decided yet: its verdict queues it again
        decision = ForwardingDecision.parse(raw)
        if not decision.kept:
            return
        names = cast(list[bytes], await self._redis.hkeys(key))  # the client never decodes replies
        for hash_key in [key, *(self._keys.trace(name[2:]) for name in sorted(names) if name[:2] == b"t:")]:
            spans, size = await self._release_hash(hash_key, decision.exporters)
            self.spans_kept += spans
            self.bytes_kept += size
            if b"late" in fields:
                self.spans_late += spans

    async def _release_hash(self, key: bytes, exporters: tuple[str, ...]) -> tuple[int, int]:
        """Send every span chunk of one hash not sent before; returns the spans and bytes sent. One
        release of a hash at a time: a trace's hash can be released with its session and, once, as a
        trace without one."""
        async with self._locked(key):
            return await self._release_unsent(key, exporters)

    async def _release_unsent(self, key: bytes, exporters: tuple[str, ...]) -> tuple[int, int]:
        names = cast(list[bytes], await self._redis.hkeys(key))
        sent = {name[1:] for name in names if name[:1] == SENT}
        todo = sorted(name for name in names if name[:1] == SPANS and name not in sent)
        spans = size = 0
        body: list[bytes] = []
        fields: list[bytes] = []
        body_bytes = 0
        for start in range(0, len(todo), READ_BATCH):
            batch = todo[start : start + READ_BATCH]
            values = cast(list[bytes | None], await self._redis.hmget(key, batch))
            for name, value in zip(batch, values):
                if value is None:  # deleted since (a cap): it was forwarded on arrival
                    continue
                body.append(unpack(value))
                fields.append(name)
                body_bytes += len(body[-1])
                if body_bytes >= REQUEST_BYTES:
                    n, b = await self._send_marked(key, exporters, body, fields)
                    spans, size, body, fields, body_bytes = spans + n, size + b, [], [], 0
        if body:
            n, b = await self._send_marked(key, exporters, body, fields)
            spans, size = spans + n, size + b
        return spans, size

    async def _send_marked(
        self, key: bytes, exporters: tuple[str, ...], body: list[bytes], fields: list[bytes]
    ) -> tuple[int, int]:
        # Chunks are TracesData, whose wire layout ExportTraceServiceRequest shares: they concatenate.
        payload = b"".join(body)
        spans = sum(len(ss.spans) for rs in TracesData.FromString(payload).resource_spans for ss in rs.scope_spans)
        delivered = await self._send(exporters, payload)
        await self._redis.hset(key, mapping={SENT + name: b"1" for name in fields})
        if not delivered:
            self.spans_refused += spans
            return 0, 0
        return spans, len(payload)

    @asynccontextmanager
    async def _locked(self, key: bytes):
        lock = Lock(self._redis, key + b":releasing", timeout=self._lease_s, sleep=0.05)
        await lock.acquire()
        refresher = asyncio.create_task(self._keep(lock))
        try:
            yield
        finally:
            refresher.cancel()
            try:
                await lock.release()
            except Exception as exc:  # lost it (Redis down): it lapses after the lease
                log.warning("cannot release the lock on %r: %s", key, exc)

    async def _keep(self, lock: Lock) -> None:
        while True:
            await asyncio.sleep(self._lease_s / 3)
            try:
                await lock.reacquire()
            except Exception as exc:
                log.warning("cannot refresh a release lock: %s", exc)
