"""A chunk write Redis refused (its reply switched off) must not be counted and acknowledged: the
chunks go in one transaction, the store script checks that one is there before it counts any, and
refuses the request otherwise."""

from __future__ import annotations

import asyncio
import os

import pytest
import redis
from redis.exceptions import OutOfMemoryError

from collector_eval.model import SessionKey
from collector_eval.sessions import buffer as buffer_module
from collector_eval.sessions.buffer import SessionBuffer
from collector_eval.sessions.keys import Keys
from collector_eval.sessions.options import SessionConfig
from collector_eval.sessions.router import SessionRouter
from collector_eval.sessions.scripts import load_scripts
from collector_eval.store import resp
from collector_eval.store.client import connect
from collector_eval.store.options import RedisConfig
from tests.support.spans import end_span, request, span, trace_id


async def _exercise(url: str, monkeypatch) -> None:
    client = connect(RedisConfig(url=url), url)
    await load_scripts(client)
    cfg = SessionConfig()
    keys = Keys("store-check")
    buffer = SessionBuffer(client, keys, cfg)
    req = request(span(trace_id(), "turn", **{"session.id": "s-lost"}), span(trace_id(), "orphan"), end_span("s-lost"))
    routed = SessionRouter(cfg).route(req.SerializeToString())

    real = resp.execute_quietly

    async def writes_refused(redis, batches):
        # What Redis does at maxmemory with a large HSET whose reply is off: nothing written, nothing said.
        return await real(redis, [([], last, slot) for _, last, slot in batches])

    monkeypatch.setattr(buffer_module.resp, "execute_quietly", writes_refused)
    with pytest.raises(OutOfMemoryError, match="not stored"):
        await buffer.store(routed)
    session_key = keys.session(SessionKey("receiver-test", "s-lost"))
    assert await client.hgetall(session_key) == {}  # nothing counted, no end span scheduled
    assert await client.zcard(keys.shards[0].due) == 0

    monkeypatch.setattr(buffer_module.resp, "execute_quietly", real)
    assert (await buffer.store(routed)).scheduled == 1  # the retry stores and schedules it
    assert int(await client.hget(session_key, "n")) >> 32 == 2
    await client.aclose()


def test_a_chunk_redis_did_not_store_refuses_the_request(redis_url, monkeypatch):
    asyncio.run(_exercise(redis_url, monkeypatch))


async def _hover(url: str) -> tuple[int, int]:
    """Requests of one big span each into a Redis hovering at its maxmemory: room is made now and then,
    so some are refused and later ones taken. Returns (acknowledged, refused)."""
    client = connect(RedisConfig(url=url), url)
    sync = redis.Redis.from_url(url)
    await load_scripts(client)
    cfg = SessionConfig()
    keys = Keys("hover")
    buffer, router = SessionBuffer(client, keys, cfg), SessionRouter(cfg)
    sync.config_set("maxmemory-policy", "noeviction")
    for i in range(8):  # room that deleting one of these makes
        sync.set(f"room-{i}", b"r" * 60_000)
    sync.config_set("maxmemory", sync.info("memory")["used_memory"] + 100_000)
    acknowledged: dict[str, int] = {}
    refused = 0
    for i in range(48):
        sid = f"hover-{i % 3}"
        req = request(span(trace_id(), "big", **{"session.id": sid, "input.value": os.urandom(9_000).hex()}))
        try:
            await buffer.store(router.route(req.SerializeToString()))
            acknowledged[sid] = acknowledged.get(sid, 0) + 1
        except OutOfMemoryError:
            refused += 1
            if refused % 4 == 0:
                sync.delete(f"room-{refused // 4 - 1}")
    sync.config_set("maxmemory", 0)
    for sid, count in acknowledged.items():
        fields = await client.hgetall(keys.session(SessionKey("receiver-test", sid)))
        chunks = [value for name, value in fields.items() if name[:1] == b"c"]
        n = int(fields[b"n"])
        # Every chunk stored is counted, and every chunk counted is stored: spans and bytes alike.
        assert (n >> 32, n & 0xFFFFFFFF) == (count, sum(map(len, chunks))) == (len(chunks), sum(map(len, chunks)))
    await client.aclose()
    sync.close()
    return sum(acknowledged.values()), refused


def test_at_the_memory_limit_a_request_is_stored_whole_or_refused_whole(redis_url):
    acknowledged, refused = asyncio.run(_hover(redis_url))
    assert acknowledged > 3 and refused > 3  # both happened, interleaved by the room made


async def _ttls(url: str, hold_max_s: float | None) -> dict[str, int]:
    client = connect(RedisConfig(url=url), url)
    await load_scripts(client)
    cfg = SessionConfig(ttl_s=5000, orphan_trace_ttl_s=100)
    keys = Keys(f"ttl-{hold_max_s}")
    buffer, router = SessionBuffer(client, keys, cfg, hold_max_s=hold_max_s), SessionRouter(cfg)
    joined, orphan = trace_id(), trace_id()

    async def store(*spans) -> None:
        req = request(*spans)
        await buffer.store(router.route(req.SerializeToString()))

    await store(span(joined, "turn", **{"session.id": "s-ttl"}))
    # Spans of the same trace without the id, later: the trace's first chunk in its own hash.
    await store(span(joined, "tool"), span(orphan, "alone"))
    ttls = {
        "session": await client.ttl(keys.session(SessionKey("receiver-test", "s-ttl"))),
        "joined": await client.ttl(keys.trace(joined)),
        "orphan": await client.ttl(keys.trace(orphan)),
    }
    await client.aclose()
    return ttls


def test_a_hash_s_first_chunk_sets_its_ttl_and_never_cuts_a_longer_one(redis_url):
    # Spans not held: a session's and an orphan's first chunks set their TTLs (the trace that came
    # after its session's id waits as an orphan, like any).
    assert asyncio.run(_ttls(redis_url, None)) == {"session": 5000, "joined": 100, "orphan": 100}
    # Held: the session's traces are marked joined, their hashes made with the session's TTL; a
    # first chunk there keeps it, where an orphan's gets twice the orphan TTL.
    assert asyncio.run(_ttls(redis_url, 30.0)) == {"session": 5000, "joined": 5000, "orphan": 200}
