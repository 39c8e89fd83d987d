"""The loops that read a stream group (the evaluation worker, the outbox publisher) outlive Redis
being away: down when they start, or back with none of its data."""

import asyncio

from collector_eval.evaluation.worker import EvaluationWorker
from collector_eval.export.outbox import OutboxPublisher
from collector_eval.sessions.options import JobsConfig
from collector_eval.store.client import connect
from collector_eval.store.options import RedisConfig
from collector_eval.store.server import EmbeddedRedis
from collector_eval.store.streams import StreamGroup
from tests.support.config import free_port


async def _groups(client, stream: str) -> list[bytes]:
    return [g["name"] for g in await client.xinfo_groups(stream)]


async def _groups_made_again(client) -> None:
    for _ in range(50):
        await asyncio.sleep(0.1)
        if await client.exists("jobs", "outbox") == 2:
            break
    assert await _groups(client, "jobs") == [b"evaluators"]
    assert await _groups(client, "outbox") == [b"publishers"]


async def _exercise(port: int) -> None:
    url = f"redis://127.0.0.1:{port}/0"
    client = connect(RedisConfig(url=url), url)
    jobs = StreamGroup(client, "jobs", "evaluators", visibility_timeout_s=30)
    outbox = StreamGroup(client, "outbox", "publishers", visibility_timeout_s=30)
    worker = EvaluationWorker(JobsConfig(poll_interval_s=0.05), None, [jobs], None)  # type: ignore[arg-type]
    publisher = OutboxPublisher([outbox], [], console=False, poll_interval_s=0.05)
    loops = [asyncio.create_task(worker.run()), asyncio.create_task(publisher.run())]
    redis = EmbeddedRedis(port=port)
    try:
        # No Redis when the loops start: each failure is counted and retried, and no loop ends.
        await asyncio.sleep(1.5)
        assert not any(loop.done() for loop in loops), [loop.exception() for loop in loops if loop.done()]
        assert worker.redis_errors >= 1 and publisher.redis_errors >= 1

        redis.start()
        await _groups_made_again(client)

        # Redis lost its data (a restart without persistence): the groups are made again.
        await client.flushall()
        await _groups_made_again(client)
    finally:
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        await client.aclose()
        redis.stop()


def test_stream_readers_outlive_redis_down_at_start_and_back_empty():
    asyncio.run(_exercise(free_port()))
