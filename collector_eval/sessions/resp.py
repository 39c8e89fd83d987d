"""A lean pipeline for the ingest hot path: commands packed as RESP by hand and sent in one write on
one pooled connection. redis-py's pipeline spends far more CPU encoding a hundred commands and
parsing their replies than Redis spends running them."""
from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import AskError, MovedError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

Client = aioredis.Redis | RedisCluster


def pack(args: list[bytes]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts += (b"$%d\r\n" % len(arg), arg, b"\r\n")
    return b"".join(parts)


async def execute_quietly(client: Client, writes: list[list[bytes]], last: list[bytes], slot_key: bytes | str = b""):
    """Send the writes with their replies switched off (CLIENT REPLY OFF), then `last`, and return
    last's reply (an error reply is returned, not raised). Reading a hundred "1"s back through
    redis-py cost more CPU than the whole rest of the ingest path. The writes must be commands whose
    failure `last` would meet too (out of memory, a read-only replica, no auth), so that its reply
    stands for all of them. A connection that a Redis restart closed is replaced once. On a Cluster,
    every key must hash to slot_key's slot; a slot that moved (resharding) sends them the slow way,
    through redis-py's cluster pipeline, which follows the move and learns the new layout."""
    if isinstance(client, RedisCluster):
        reply = await _send(_NodeConnections(client.get_node_from_key(slot_key)), writes, last)
        if isinstance(reply, (MovedError, AskError)):
            pipe = client.pipeline()
            for command in (*writes, last):
                pipe.execute_command(*command)
            reply = (await pipe.execute(raise_on_error=False))[-1]
        return reply
    return await _send(client.connection_pool, writes, last)


async def _send(pool, writes: list[list[bytes]], last: list[bytes]):
    payload = b"".join([pack([b"CLIENT", b"REPLY", b"OFF"]), *map(pack, writes), pack([b"CLIENT", b"REPLY", b"ON"]), pack(last)])
    for attempt in (0, 1):
        conn = await pool.get_connection()
        try:
            await conn.send_packed_command(payload, check_health=False)
            await conn.read_response(disable_decoding=True)  # CLIENT REPLY ON
            try:
                return await conn.read_response(disable_decoding=True)
            except ResponseError as err:
                return err
        except RedisConnectionError:
            await conn.disconnect()
            if attempt:
                raise
        except BaseException:
            # A reply may still be in flight on this connection: it cannot be reused.
            await conn.disconnect()
            raise
        finally:
            await pool.release(conn)
    raise AssertionError("unreachable")


class _NodeConnections:
    """A Cluster node's connections, shaped like the connection pool _send takes from."""

    def __init__(self, node: ClusterNode):
        self._node = node

    async def get_connection(self):
        conn = self._node.acquire_connection()
        await conn.connect()
        return conn

    async def release(self, conn) -> None:
        self._node.release(conn)
