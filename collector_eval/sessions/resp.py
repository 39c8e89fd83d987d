"""A lean pipeline for the ingest hot path: commands packed as RESP by hand and sent in one write on
one pooled connection. redis-py's pipeline spends far more CPU encoding a hundred commands and
parsing their replies than Redis spends running them."""
from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError


def pack(args: list[bytes]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts += (b"$%d\r\n" % len(arg), arg, b"\r\n")
    return b"".join(parts)


async def execute_quietly(client: aioredis.Redis, writes: list[list[bytes]], last: list[bytes]):
    """Send the writes with their replies switched off (CLIENT REPLY OFF), then `last`, and return
    last's reply (an error reply is returned, not raised). Reading a hundred "1"s back through
    redis-py cost more CPU than the whole rest of the ingest path. The writes must be commands whose
    failure `last` would meet too (out of memory, a read-only replica, no auth), so that its reply
    stands for all of them. A connection that a Redis restart closed is replaced once."""
    payload = b"".join([pack([b"CLIENT", b"REPLY", b"OFF"]), *map(pack, writes), pack([b"CLIENT", b"REPLY", b"ON"]), pack(last)])
    pool = client.connection_pool
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
