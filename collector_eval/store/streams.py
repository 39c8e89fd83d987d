"""Redis Streams read through a consumer group: evaluation jobs, verdicts in the outboxes, and
sessions whose held spans are to be released. Any replica can take any entry. Each process reads
under a stable consumer name (its host and its process index), so a restarted process takes back its
own unacknowledged entries at once; while it works on an entry it keeps the entry's claim fresh, so
an entry whose consumer died is taken over by another within the visibility timeout, and one a live
consumer works on for longer is not."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import time

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError
from redis.typing import StreamIdT

from collector_eval.aio import cancel_all
from collector_eval.backoff import Backoff
from collector_eval.store.client import REDIS_ERRORS, Client, log_failure

log = logging.getLogger(__name__)

Message = tuple[bytes, dict[bytes, bytes]]

# The most time between two scans for entries abandoned by a dead consumer.
RECLAIM_EVERY_S = 5.0
# Claims are refreshed this many times per visibility timeout: a live consumer's entry is never
# idle for more than a sixth of it, so a stalled event loop or a Redis hiccup of several seconds
# does not make it look dead.
REFRESHES_PER_TIMEOUT = 6
# Entries a consumer handles at once, per stream.
BATCH = 16
ACK_BACKOFF = Backoff(initial_s=0.1, max_s=2.0)


def consumer_identity(name: str, process_index: int) -> str:
    """The consumer name of one process: the same after a restart (so it finds its own pending
    entries), never another live process's. name: jobs.consumer_name, else $HOSTNAME, else the host
    name; on Kubernetes both are the pod name (unique among live pods). process_index tells the
    processes of one `serve` apart."""
    host = name or os.environ.get("HOSTNAME") or socket.gethostname()
    return f"{host}-{process_index}"


class StreamGroup:
    def __init__(
        self,
        client: Client,
        stream: str,
        group: str,
        visibility_timeout_s: float,
        consumer: str | None = None,  # None: the first process's name on this host
    ):
        self._redis = client
        self._stream = stream
        self.name = stream
        self._group = group
        self.consumer = consumer or consumer_identity("", 0)
        # An entry is taken over once its consumer has been dead for at most the visibility timeout:
        # idle past the timeout less one scan interval, found by the next scan.
        self._reclaim_every_s = min(RECLAIM_EVERY_S, visibility_timeout_s / REFRESHES_PER_TIMEOUT)
        self._idle_ms = max(1, int((visibility_timeout_s - self._reclaim_every_s) * 1000))
        self._refresh_every_s = visibility_timeout_s / REFRESHES_PER_TIMEOUT
        self._last_reclaim = 0.0
        self._group_ready = False
        # Where this consumer's own pending entries (left by its previous run) are read from next;
        # None once they have all been read again.
        self._history: bytes | None = b"0"
        # Entries this process works on and has not acknowledged: their claims are kept fresh.
        self._held: set[bytes] = set()
        self.reclaimed = 0  # entries taken over from a dead consumer (read by the metrics collector)

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def next_batch(self, count: int, block_ms: int) -> list[Message]:
        """Up to count entries: first this consumer's own pending ones (a restart finds what it was
        working on when it died), then every few seconds abandoned ones, else new ones (blocking)."""
        if not self._group_ready:
            # Here rather than once at start, so Redis being down when the loop starts is one more
            # failed read for the caller to retry, not a loop that died.
            await self.ensure_group()
        try:
            messages = await self._next(count, block_ms)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis lost its data (a restart without persistence): start the group again.
            self._group_ready = False
            return []
        # An entry still in hand comes back when a scan reclaims it because Redis was away while its
        # claim was due a refresh: handing it out again would send a verdict twice, or pay the judge
        # twice. (Entry ids are per stream: each shard's group keeps its own.)
        messages = [m for m in messages if m[0] not in self._held]
        self._held.update(mid for mid, _ in messages)
        return messages

    async def _next(self, count: int, block_ms: int) -> list[Message]:
        if self._history is not None:
            own = await self.read_own_pending(count)
            if own:
                return own
        if time.monotonic() - self._last_reclaim > self._reclaim_every_s:
            self._last_reclaim = time.monotonic()
            reclaimed = await self.reclaim(count)
            if reclaimed:
                return reclaimed
        return await self.read(count, block_ms)

    async def read_own_pending(self, count: int) -> list[Message]:
        """The next of the entries delivered to this consumer name and never acknowledged: reading
        the group from an id rather than ">" re-delivers them, at once, whatever their idle time."""
        assert self._history is not None
        reply = await self._xreadgroup(count, None, self._history)
        if not reply:
            self._history = None
            return []
        self._history = reply[-1][0]
        # Entries deleted since (acknowledged and deleted by a run that died between the two) come
        # back with no fields: acknowledge them so they leave the pending list.
        gone = [mid for mid, fields in reply if not fields]
        if gone:
            await self._redis.xack(self._stream, self._group, *gone)
        own = [(mid, fields) for mid, fields in reply if fields]
        self.reclaimed += len(own)
        return own

    async def reclaim(self, count: int) -> list[Message]:
        """Entries another (or an earlier, crashed) consumer took and never acknowledged."""
        reply = await self._redis.xautoclaim(
            self._stream, self._group, self.consumer, min_idle_time=self._idle_ms, start_id="0-0", count=count
        )
        # XAUTOCLAIM returns entries deleted meanwhile as (id, None).
        reclaimed = [(mid, fields) for mid, fields in reply[1] if fields]
        self.reclaimed += len(reclaimed)
        return reclaimed

    async def read(self, count: int, block_ms: int) -> list[Message]:
        return await self._xreadgroup(count, block_ms, b">")

    async def _xreadgroup(self, count: int, block_ms: int | None, from_id: bytes) -> list[Message]:
        command: list[str | int | bytes] = ["XREADGROUP", "GROUP", self._group, self.consumer, "COUNT", count]
        if block_ms is not None:
            command += ["BLOCK", block_ms]
        command += ["STREAMS", self._stream, from_id]
        # On a Cluster, straight to the stream's node: redis-py would otherwise ask a node which of
        # the arguments are keys (COMMAND GETKEYS) before every read, and that node's connection
        # breaking under it raised outside RedisError.
        route = (
            {"target_nodes": self._redis.get_node_from_key(self._stream)}
            if isinstance(self._redis, RedisCluster)
            else {}
        )
        reply = await self._redis.execute_command(*command, **route)
        return [message for _, messages in reply or () for message in messages]

    async def ack(self, message_id: bytes) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.xack(self._stream, self._group, message_id)
        pipe.xdel(self._stream, message_id)
        await pipe.execute()
        self._held.discard(message_id)

    def release(self, message_id: bytes) -> None:
        """Work on the entry stopped without acknowledging it (it failed): its claim is no longer
        refreshed, so it is tried again once idle for the visibility timeout."""
        self._held.discard(message_id)

    async def keep_claims_fresh(self) -> None:
        """Runs beside the reader: resets the idle time of every entry this process holds, so a
        judge call or a delivery that takes longer than the visibility timeout is never taken over
        while its process lives. XCLAIM to the same consumer with JUSTID changes nothing else."""
        while True:
            await asyncio.sleep(self._refresh_every_s)
            held: list[StreamIdT] = list(self._held)
            if not held:
                continue
            try:
                await self._redis.xclaim(self._stream, self._group, self.consumer, 0, held, justid=True)
            except Exception as exc:
                # A claim not refreshed for the whole timeout is taken over: judged twice at worst.
                log_failure(log, f"cannot refresh the claims on {self._stream}", exc)

    async def abandon(self) -> None:
        """On a graceful stop: mark the entries still held as idle for the whole timeout, so another
        consumer takes them at its next scan rather than a visibility timeout later."""
        held: list[StreamIdT] = list(self._held)
        self._held = set()
        if not held:
            return
        try:
            await self._redis.xclaim(self._stream, self._group, self.consumer, 0, held, idle=self._idle_ms, justid=True)
        except REDIS_ERRORS as exc:
            log.warning("cannot hand back %d entries of %s: %s", len(held), self._stream, exc)


class StreamConsumer:
    """Reads one stream per shard through a consumer group, handles each entry (_handle), and
    acknowledges it once handled: an entry whose reader died is taken over, never lost. While an
    entry is being handled (a delivery retried for as long as the downstream is down) its claim is
    kept fresh, so no other process takes over work that is still going on. The outboxes and the
    release of held spans read their streams through it."""

    def __init__(self, streams: list[StreamGroup], poll_interval_s: float):
        self._streams = streams  # one per shard
        self._poll_ms = max(1, int(poll_interval_s * 1000))
        self.redis_errors = 0

    async def run(self) -> None:
        await asyncio.gather(
            *(self._drain(stream) for stream in self._streams),
            *(stream.keep_claims_fresh() for stream in self._streams),
        )

    async def stop(self) -> None:
        """After run was cancelled: the deliveries cut short are left to the other processes at once."""
        for stream in self._streams:
            await stream.abandon()

    async def _drain(self, stream: StreamGroup) -> None:
        # Up to BATCH entries in hand at once, each taken as soon as one before it is done: an entry
        # that takes long (a downstream that is down, a large release) holds back no other.
        running: set[asyncio.Task] = set()
        try:
            while True:
                free = BATCH - len(running)
                if free <= 0:
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    messages = await stream.next_batch(free, self._poll_ms)
                except Exception as exc:
                    self.redis_errors += log_failure(log, f"cannot read {stream.name}", exc)
                    await asyncio.sleep(1)
                    continue
                for message in messages:
                    task = asyncio.create_task(self._handle_and_ack(stream, message))
                    running.add(task)
                    task.add_done_callback(running.discard)
        finally:
            await cancel_all(list(running))

    async def _handle_and_ack(self, stream: StreamGroup, message: Message) -> None:
        message_id, fields = message
        try:
            await self._handle(message_id.decode(), fields)
        except Exception as exc:
            stream.release(message_id)  # taken over and handled again after the visibility timeout
            self.redis_errors += log_failure(log, f"cannot handle entry {message_id.decode()} of {stream.name}", exc)
            return
        # Handled now: an acknowledgement lost to a Redis outage would leave the entry to be
        # reclaimed and handled again, so it is retried until Redis takes it.
        for attempt in itertools.count(1):
            try:
                await stream.ack(message_id)
                return
            except REDIS_ERRORS as exc:
                self.redis_errors += 1
                log.warning("cannot acknowledge entry %s of %s yet: %s", message_id.decode(), stream.name, exc)
                await asyncio.sleep(ACK_BACKOFF.delay(attempt))

    async def _handle(self, message_id: str, fields: dict[bytes, bytes]) -> None:
        raise NotImplementedError
