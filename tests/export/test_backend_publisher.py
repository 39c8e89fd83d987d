"""Evaluation backends fed from their own outboxes in Redis: each verdict's records delivered once,
retried while the backend asks for it, refused ones counted, acknowledged only once delivered, and
one backend that is down holds back no other."""

from __future__ import annotations

import asyncio

from collector_eval.export.delivery import DELIVERED, Outcome
from collector_eval.export.outbox import GROUP, BackendPublisher
from collector_eval.export.results import ResultRecord, records_to_json
from collector_eval.sessions.keys import Keys
from collector_eval.store.client import connect
from collector_eval.store.options import RedisConfig
from collector_eval.store.streams import StreamGroup
from tests.support.records import record


class ScriptedBackend:
    """Answers with the scripted outcomes first, then delivers; keeps what it was given."""

    def __init__(self, name: str, outcomes: list[Outcome]):
        self.name = name
        self._outcomes = list(outcomes)
        self.written: list[list[ResultRecord]] = []

    async def attempt(self, records: list[ResultRecord]) -> Outcome:
        if self._outcomes:
            return self._outcomes.pop(0)
        self.written.append(records)
        return DELIVERED

    async def close(self) -> None:
        pass


async def _exercise(url: str) -> None:
    client = connect(RedisConfig(url=url), url)
    keys = Keys(f"bp{id(client)}")
    shard = keys.shards[0]
    retrying = ScriptedBackend("retrying", [Outcome(retry=True, delay_s=0.01), Outcome(retry=True, delay_s=0.01)])
    refusing = ScriptedBackend("refusing", [Outcome(retry=False, reason="HTTP 400")])
    down = ScriptedBackend("down", [Outcome(retry=True, delay_s=0.05)] * 10_000)
    publishers = [
        BackendPublisher(b, [StreamGroup(client, shard.results(b.name), GROUP, 30)], poll_interval_s=0.02)
        for b in (retrying, refusing, down)
    ]
    for publisher in publishers:
        await client.xadd(
            shard.results(publisher.backend.name),
            {"records": records_to_json([record(name="goal"), record(name="tone")])},
        )
    tasks = [asyncio.create_task(p.run()) for p in publishers]
    try:
        for _ in range(200):
            if retrying.written and publishers[1].failed:
                break
            await asyncio.sleep(0.02)
        # Delivered once after two retries, with every record of the verdict, and acknowledged.
        assert [[r.name for r in batch] for batch in retrying.written] == [["goal", "tone"]]
        assert (publishers[0].sent, publishers[0].retried, publishers[0].failed) == (2, 2, 0)
        assert retrying.written[0][0] == record(name="goal")
        # Refused outright: counted as failed, acknowledged (never retried forever).
        assert (publishers[1].sent, publishers[1].failed) == (0, 2)
        for _ in range(50):
            if await client.xlen(shard.results("retrying")) == 0 and await client.xlen(shard.results("refusing")) == 0:
                break
            await asyncio.sleep(0.02)
        assert await client.xlen(shard.results("retrying")) == 0
        assert await client.xlen(shard.results("refusing")) == 0
        # The backend that is down still holds its verdict, unacknowledged, and held back no other.
        assert down.written == [] and publishers[2].retried > 0
        assert await client.xlen(shard.results("down")) == 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.aclose()


def test_backends_are_fed_from_their_own_outboxes(redis_url):
    asyncio.run(_exercise(redis_url))
