"""Forwarder: a bounded in-memory queue of Export requests on their way downstream.

Receivers reserve a slot before they buffer a request, so an acknowledged request always has a place
in the queue; when none is free they answer UNAVAILABLE and the sender retries.
"""
from __future__ import annotations

import asyncio
import logging

from collector_eval.export.destinations import Destination

log = logging.getLogger("collector_eval.forwarder")


class Forwarder:
    def __init__(self, destinations: list[Destination], capacity: int, senders: int):
        # Every request goes to each; none configured: spans are acknowledged and dropped.
        self._destinations = destinations
        self._capacity = capacity
        self._senders = senders
        # (payload, its span count): bounded by reservations, not maxsize
        self._queue: asyncio.Queue[tuple[bytes, int]] = asyncio.Queue()
        self._reserved = 0
        # Spans the downstream accepted, and those given up on (read by the metrics collector).
        self.forwarded_spans = 0
        self.dropped_spans = 0
        self._tasks: list[asyncio.Task] = []

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def try_reserve(self) -> bool:
        if self._queue.qsize() + self._reserved >= self._capacity:
            return False
        self._reserved += 1
        return True

    def release(self) -> None:
        self._reserved -= 1

    def submit_reserved(self, payload: bytes, spans: int = 0) -> None:
        self._reserved -= 1
        self._queue.put_nowait((payload, spans))

    async def submit(self, payload: bytes) -> None:
        """Queue a payload of our own (a verdict), waiting for room rather than refusing."""
        while not self.try_reserve():
            await asyncio.sleep(0.05)
        self.submit_reserved(payload)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._send_loop()) for _ in range(self._senders)]

    async def _send_loop(self) -> None:
        while True:
            payload, spans = await self._queue.get()
            try:
                if self._destinations:
                    delivered = await asyncio.gather(*(d.send(payload) for d in self._destinations))
                    if all(delivered):
                        self.forwarded_spans += spans
                    else:
                        self.dropped_spans += spans
            except Exception:  # a sender must survive anything one payload does
                log.exception("forwarding failed")
            finally:
                self._queue.task_done()

    async def stop(self, drain_timeout_s: float) -> None:
        try:
            await asyncio.wait_for(self._queue.join(), drain_timeout_s)
        except asyncio.TimeoutError:
            log.error("stopping with %d requests not yet forwarded", self._queue.qsize())
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for destination in self._destinations:
            await destination.close()
