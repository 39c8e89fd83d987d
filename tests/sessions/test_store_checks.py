"""A chunk write Redis refused (its reply switched off) must not be counted and acknowledged: the
store script checks every chunk is there before it counts any, and refuses the request otherwise."""

from __future__ import annotations

import asyncio

import pytest
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
    routed = SessionRouter(cfg).route(req, req.SerializeToString())

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
