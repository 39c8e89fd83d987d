"""Evaluation jobs: a Redis Stream read through a consumer group, so any replica can take any
session, and a job whose worker died is reclaimed once it has been idle past the visibility timeout."""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from collector_eval.sessions.keys import parse_session_member
from collector_eval.sessions.router import SessionKey

GROUP = "evaluators"


@dataclass
class Job:
    message_id: bytes
    session: SessionKey


class JobQueue:
    def __init__(self, client: aioredis.Redis, stream: str, visibility_timeout_s: float):
        self._redis = client
        self._stream = stream
        self._idle_ms = int(visibility_timeout_s * 1000)
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def reclaim(self, count: int) -> list[Job]:
        """Jobs another (or an earlier, crashed) consumer took and never acknowledged."""
        reply = await self._redis.xautoclaim(
            self._stream, GROUP, self.consumer, min_idle_time=self._idle_ms, start_id="0-0", count=count
        )
        return _jobs(reply[1])

    async def read(self, count: int, block_ms: int) -> list[Job]:
        try:
            reply = await self._redis.xreadgroup(GROUP, self.consumer, {self._stream: ">"}, count=count, block=block_ms)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis lost its data (a restart without persistence): start the group again.
            await self.ensure_group()
            return []
        return [job for _, messages in reply for job in _jobs(messages)]

    async def ack(self, job: Job) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.xack(self._stream, GROUP, job.message_id)
        pipe.xdel(self._stream, job.message_id)
        await pipe.execute()


def _jobs(messages) -> list[Job]:
    # XAUTOCLAIM returns deleted entries as (id, None).
    return [Job(mid, parse_session_member(fields[b"session"])) for mid, fields in messages if fields]
