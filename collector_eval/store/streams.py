"""Redis Streams read through a consumer group: evaluation jobs, and verdicts in the outbox. Any
replica can take any entry, and an entry whose consumer died is reclaimed once it has been idle past
the visibility timeout."""

from __future__ import annotations

import os
import socket
import time

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from collector_eval.store.client import Client

Message = tuple[bytes, dict[bytes, bytes]]

RECLAIM_EVERY_S = 5.0


class StreamGroup:
    def __init__(self, client: Client, stream: str, group: str, visibility_timeout_s: float):
        self._redis = client
        self._stream = stream
        self._group = group
        self._idle_ms = int(visibility_timeout_s * 1000)
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"
        self._last_reclaim = 0.0
        self._group_ready = False
        self.reclaimed = 0  # entries taken over from a dead consumer (read by the metrics collector)

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def next_batch(self, count: int, block_ms: int) -> list[Message]:
        """Up to count entries: every few seconds abandoned ones first, else new ones (blocking)."""
        if not self._group_ready:
            # Here rather than once at start, so Redis being down when the loop starts is one more
            # failed read for the caller to retry, not a loop that died.
            await self.ensure_group()
        try:
            if time.monotonic() - self._last_reclaim > RECLAIM_EVERY_S:
                self._last_reclaim = time.monotonic()
                reclaimed = await self.reclaim(count)
                if reclaimed:
                    return reclaimed
            return await self.read(count, block_ms)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis lost its data (a restart without persistence): start the group again.
            self._group_ready = False
            return []

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
        command: list[str | int] = [
            "XREADGROUP",
            "GROUP",
            self._group,
            self.consumer,
            "COUNT",
            count,
            "BLOCK",
            block_ms,
            "STREAMS",
            self._stream,
            ">",
        ]
        # On a Cluster, straight to the stream's node: redis-py would otherwise ask a node which of
        # the arguments are keys (COMMAND GETKEYS) before every read, and that node's connection
        # breaking under it raised outside RedisError.
        route = (
            {"target_nodes": self._redis.get_node_from_key(self._stream)}
            if isinstance(self._redis, RedisCluster)
            else {}
        )
        reply = await self._redis.execute_command(*command, **route)
        return [message for _, messages in reply for message in messages]

    async def ack(self, message_id: bytes) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.xack(self._stream, self._group, message_id)
        pipe.xdel(self._stream, message_id)
        await pipe.execute()
