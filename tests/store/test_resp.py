"""RESP packing in C (collector_eval/store/_resp.c): what it writes is what a real redis-server reads;
and the quiet pipeline that sends it applies a batch's writes all or none."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlparse

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.crc import key_slot

from collector_eval.store._resp import pack
from collector_eval.store.client import connect
from collector_eval.store.options import RedisConfig
from collector_eval.store.resp import execute_quietly
from tests.support.redis_cluster import EmbeddedCluster

arguments = st.lists(st.binary(max_size=300), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(arguments)
def test_a_command_is_an_array_of_bulk_strings(args: list[bytes]) -> None:
    expected = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(arg), arg) for arg in args)
    assert pack(args) == expected
    assert pack(tuple(args)) == expected


def test_redis_reads_what_is_packed(redis_url: str) -> None:
    # Binary values, an empty one, and one of 100,000 bytes (a length of six digits) go in and come back.
    values = [bytes(range(256)), b"", b"x" * 100_000, b"\r\n$3\r\n"]
    url = urlparse(redis_url)
    with socket.create_connection((url.hostname, url.port)) as conn:
        out = b"".join(pack([b"SET", b"resp-test:%d" % i, value]) for i, value in enumerate(values))
        out += b"".join(pack([b"STRLEN", b"resp-test:%d" % i]) for i in range(len(values)))
        out += pack([b"DEL", *(b"resp-test:%d" % i for i in range(len(values)))])
        conn.sendall(out)
        expected = b"+OK\r\n" * len(values) + b"".join(b":%d\r\n" % len(v) for v in values) + b":4\r\n"
        reply = b""
        while len(reply) < len(expected):
            reply += conn.recv(65536)
    assert reply == expected


def test_an_argument_that_is_not_bytes_is_refused_naming_it() -> None:
    with pytest.raises(TypeError, match="argument 2 of a command is str, not bytes"):
        pack([b"SET", b"k", "v"])
    with pytest.raises(TypeError, match="sequence of bytes"):
        pack(3)  # type: ignore[arg-type]


def _execute_quietly(url: str, batches: list) -> list:
    async def run() -> list:
        client = connect(RedisConfig(url=url), url)
        try:
            return await execute_quietly(client, batches)
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_a_batch_s_writes_are_applied_all_or_none(redis_url: str) -> None:
    # The store script looks for one chunk to know whether all were written: a batch whose writes Redis
    # refuses in part (here a write it cannot queue) must leave none of them.
    whole = [[b"HSET", b"resp-all", b"a", b"1"], [b"HSET", b"resp-all", b"b", b"2"]]
    broken = [[b"HSET", b"resp-none", b"a", b"1"], [b"HSET", b"resp-none", b"b"]]
    batches = [(whole, [b"HLEN", b"resp-all"], "resp-all"), (broken, [b"HLEN", b"resp-none"], "resp-none")]
    assert _execute_quietly(redis_url, batches) == [2, 0]


def test_a_batch_refused_for_memory_leaves_nothing(redis_url: str) -> None:
    sync = redis.Redis.from_url(redis_url)
    sync.config_set("maxmemory-policy", "noeviction")
    sync.config_set("maxmemory", 1)  # every write refused
    writes = [[b"HSET", b"resp-oom", b"%d" % i, b"x" * 1000] for i in range(10)]
    try:
        assert _execute_quietly(redis_url, [(writes, [b"EXISTS", b"resp-oom"], "resp-oom")]) == [0]
    finally:
        sync.config_set("maxmemory", 0)
        sync.close()


def test_a_batch_whose_slot_moved_goes_the_slow_way_and_says_what_failed() -> None:
    # A Cluster whose slot moved after the client learnt the layout (resharding): the node answers
    # MOVED, and the batch is sent again through redis-py, whose replies to the writes are read.
    cluster = EmbeddedCluster()
    url = cluster.start()
    key, broken_key = b"{moved}a", b"{moved}b"
    slot = key_slot(key)

    async def run() -> list:
        client = connect(RedisConfig(url=url), url)
        try:
            await client.initialize()
            source = client.get_node_from_key(key)
            nodes = [redis.Redis(port=port) for port in cluster.ports]
            ids = {port: node.cluster("MYID").decode() for port, node in zip(cluster.ports, nodes)}
            target = next(port for port in cluster.ports if port != source.port)
            for node in nodes:  # no key in the slot: it moves at once
                node.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[target])
                node.close()
            whole = [[b"HSET", key, b"a", b"1"], [b"HSET", key, b"b", b"2"]]
            broken = [[b"HSET", broken_key, b"a", b"1"], [b"HSET", broken_key, b"b"]]
            return await execute_quietly(
                client, [(whole, [b"HLEN", key], key.decode()), (broken, [b"HLEN", broken_key], broken_key.decode())]
            )
        finally:
            await client.aclose()

    try:
        moved, broken = asyncio.run(run())
    finally:
        cluster.stop()
    assert moved == 2
    assert isinstance(broken, redis.ResponseError) and "wrong number of arguments" in str(broken)
