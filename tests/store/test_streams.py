"""The loops that read a stream group (the evaluation worker, the outbox publisher) outlive Redis
being away: down when they start, or back with none of its data."""

import asyncio
import time
import uuid

import pytest

from collector_eval.aio import cancel_all
from collector_eval.evaluation.worker import EvaluationWorker
from collector_eval.export.destinations import Routes
from collector_eval.export.outbox import OutboxPublisher
from collector_eval.sessions.options import JobsConfig
from collector_eval.store.client import connect
from collector_eval.store.options import RedisConfig
from collector_eval.store.server import EmbeddedRedis
from collector_eval.store.streams import StreamConsumer, StreamGroup
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
    publisher = OutboxPublisher([outbox], Routes([]), console=False, poll_interval_s=0.05)
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


# ------------------------------------------------------------------- consumer identity and claims


def _run(redis_url: str, scenario) -> None:
    async def main() -> None:
        client = connect(RedisConfig(url=redis_url), redis_url)
        try:
            await scenario(client, f"stream-{uuid.uuid4().hex[:8]}")
        finally:
            await client.aclose()

    asyncio.run(main())


def test_a_restarted_consumer_takes_back_its_own_pending_entries_at_once(redis_url):
    async def scenario(client, stream: str) -> None:
        before = StreamGroup(client, stream, "g", visibility_timeout_s=30, consumer="pod-a-0")
        await before.ensure_group()
        ids = [await client.xadd(stream, {"n": str(i)}) for i in range(4)]
        assert [mid for mid, _ in await before.next_batch(10, 10)] == ids
        await before.ack(ids[0])
        await client.xdel(stream, ids[3])  # acknowledged and deleted by a run that died in between
        # Killed: ids[1:3] are pending under its name. Another process's consumer sees none of them
        # (they have been idle for less than the visibility timeout)...
        other = StreamGroup(client, stream, "g", visibility_timeout_s=30, consumer="pod-b-0")
        assert await other.next_batch(10, 10) == []
        # ...and the restarted process, under the same name, gets them back at once, page by page.
        after = StreamGroup(client, stream, "g", visibility_timeout_s=30, consumer="pod-a-0")
        started = time.monotonic()
        assert [mid for mid, _ in await after.next_batch(1, 10)] == [ids[1]]
        assert [mid for mid, _ in await after.next_batch(1, 10)] == [ids[2]]
        assert time.monotonic() - started < 1
        assert after.reclaimed == 2
        new = await client.xadd(stream, {"n": "new"})
        assert [mid for mid, _ in await after.next_batch(10, 10)] == [new]
        pending = await client.xpending(stream, "g")
        assert pending["pending"] == 3  # ids[1], ids[2] and new; the deleted one left the list

    _run(redis_url, scenario)


def test_a_live_consumers_claims_stay_fresh_and_a_dead_ones_entries_are_taken_over(redis_url):
    timeout_s = 0.6

    async def scenario(client, stream: str) -> None:
        live = StreamGroup(client, stream, "g", timeout_s, consumer="live-0")
        dead = StreamGroup(client, stream, "g", timeout_s, consumer="dead-0")
        survivor = StreamGroup(client, stream, "g", timeout_s, consumer="survivor-0")
        await live.ensure_group()
        working = await client.xadd(stream, {"n": "long judge call"})
        assert [mid for mid, _ in await live.next_batch(1, 10)] == [working]
        abandoned = await client.xadd(stream, {"n": "its process died"})
        assert [mid for mid, _ in await dead.next_batch(1, 10)] == [abandoned]
        died = time.monotonic()
        refresher = asyncio.create_task(live.keep_claims_fresh())
        taken: dict[bytes, float] = {}
        try:
            while time.monotonic() - died < 3 * timeout_s:  # the live one works three timeouts long
                for mid, _ in await survivor.next_batch(10, 20):
                    taken.setdefault(mid, time.monotonic() - died)
        finally:
            refresher.cancel()
        assert list(taken) == [abandoned], taken
        assert taken[abandoned] <= timeout_s + 0.1
        pending = await client.xpending_range(stream, "g", "-", "+", 10)
        assert {p["message_id"]: p["consumer"] for p in pending} == {working: b"live-0", abandoned: b"survivor-0"}

    _run(redis_url, scenario)


def test_a_released_entry_is_taken_over_after_the_timeout_and_an_abandoned_one_at_once(redis_url):
    async def scenario(client, stream: str) -> None:
        first = StreamGroup(client, stream, "g", visibility_timeout_s=30, consumer="first-0")
        second = StreamGroup(client, stream, "g", visibility_timeout_s=30, consumer="second-0")
        await first.ensure_group()
        failed = await client.xadd(stream, {"n": "failed"})
        cut_short = await client.xadd(stream, {"n": "cut short"})
        assert len(await first.next_batch(10, 10)) == 2
        first.release(failed)  # stays pending, idle until the visibility timeout
        await first.abandon()  # a graceful stop: the rest is handed over now
        assert [mid for mid, _ in await second.next_batch(10, 10)] == [cut_short]

    _run(redis_url, scenario)


class _Blocking(StreamConsumer):
    """Handles an entry by waiting for `done`; counts the times each entry was handled."""

    def __init__(self, streams: list[StreamGroup]):
        super().__init__(streams, poll_interval_s=0.05)
        self.handled: list[str] = []
        self.done = asyncio.Event()

    async def _handle(self, message_id: str, fields: dict[bytes, bytes]) -> None:
        self.handled.append(message_id)
        await self.done.wait()


class _BlockingWorker(EvaluationWorker):
    """Judges a job by waiting for `done`; records the jobs it was given."""

    def __init__(self, group: StreamGroup):
        super().__init__(JobsConfig(poll_interval_s=0.05), None, [group], None)  # type: ignore[arg-type]
        self.handled: list[str] = []
        self.done = asyncio.Event()

    async def process(self, job):
        self.handled.append(job.message_id.decode())
        await self.done.wait()


async def _reclaimed_while_in_hand(url: str, worker: bool) -> None:
    client = connect(RedisConfig(url=url), url)
    stream = f"stream-{uuid.uuid4().hex}"
    group = StreamGroup(client, stream, "g", visibility_timeout_s=0.6, consumer="me-0")
    consumer = _BlockingWorker(group) if worker else _Blocking([group])
    entry = await client.xadd(stream, {"session": "3:app:s1"})
    # The reader alone, without the claim refresher: as when Redis was down while a refresh was due.
    drain = asyncio.create_task(
        consumer._consume(group) if isinstance(consumer, EvaluationWorker) else consumer._drain(group)
    )
    try:
        for _ in range(100):
            if consumer.handled:
                break
            await asyncio.sleep(0.02)
        await client.xclaim(stream, "g", "me-0", 0, [entry], idle=60_000, justid=True)  # looks abandoned
        await asyncio.sleep(1.0)  # several reclaim scans: each finds the entry, ours and idle
        consumer.done.set()
        for _ in range(100):
            if not await client.xlen(stream):
                break
            await asyncio.sleep(0.02)
        assert consumer.handled == [entry.decode()]  # handled once, and acknowledged
        assert await client.xlen(stream) == 0
    finally:
        await cancel_all([drain])  # a cancellation redis-py swallows is sent again
        await client.aclose()


@pytest.mark.parametrize("reader", ["stream consumer", "evaluation worker"])
def test_an_entry_still_in_hand_is_not_handled_again_when_a_scan_reclaims_it(redis_url, reader):
    """The outboxes and releases would send twice; the worker would pay the judge twice."""
    asyncio.run(_reclaimed_while_in_hand(redis_url, worker=reader == "evaluation worker"))


async def _same_id_in_two_shards(url: str) -> None:
    client = connect(RedisConfig(url=url), url)
    streams = [f"jobs-{uuid.uuid4().hex}" for _ in range(2)]
    groups = [StreamGroup(client, s, "g", visibility_timeout_s=30, consumer="me-0") for s in streams]
    worker = _BlockingWorker(groups[0])
    worker._jobs = groups  # noqa: SLF001 (two shards' job streams)
    worker.done.set()
    for stream in streams:  # shards dispatch in the same millisecond: the same entry id in each
        await client.xadd(stream, {"session": "3:app:s1"}, id="1-1")
    loop = asyncio.create_task(worker.run())
    try:
        for _ in range(100):
            if len(worker.handled) == 2:
                break
            await asyncio.sleep(0.02)
        assert worker.handled == ["1-1", "1-1"]  # one job in each stream, neither taken for the other
    finally:
        await cancel_all([loop])
        await client.aclose()


def test_the_worker_takes_jobs_of_two_shards_that_share_an_entry_id(redis_url):
    asyncio.run(_same_id_in_two_shards(redis_url))
