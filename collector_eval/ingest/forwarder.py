"""Forwarder: a bounded in-memory queue of Export requests on their way downstream.

Receivers reserve a slot before they buffer a request, so an acknowledged request always has a place
in the queue; when none is free they answer UNAVAILABLE and the sender retries. With confirm (config
receiver.acknowledge: forwarded) a receiver waits for its request to reach every downstream before it
acknowledges, so a process that dies holds nothing acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from collector_eval.export.destinations import Destination
from collector_eval.otlp.signals import Signal

log = logging.getLogger(__name__)


class Forwarder:
    def __init__(self, destinations: list[Destination], capacity: int, senders: int, confirm: bool = False):
        # Every request goes to each; none configured: spans are acknowledged and dropped.
        self._destinations = destinations
        self._capacity = capacity
        self._senders = senders
        self._confirm = confirm
        # (payload, its signal, its item count, the future a confirming receiver waits on): bounded
        # by reservations, not maxsize
        self._queue: asyncio.Queue[tuple[bytes, Signal, int, asyncio.Future | None]] = asyncio.Queue()
        self._reserved = 0
        # Items (spans, log records, data points) the downstream accepted, and those given up on, by
        # signal (read by the metrics collector).
        self.forwarded: Counter[Signal] = Counter()
        self.dropped: Counter[Signal] = Counter()
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

    def submit_reserved(self, payload: bytes, items: int, signal: Signal) -> asyncio.Future | None:
        """Queue a payload in the slot reserved for it. With confirm, returns a future that turns True
        once every destination took it, or False once one did not (tried once: the sender retries)."""
        self._reserved -= 1
        confirmed = asyncio.get_running_loop().create_future() if self._confirm else None
        self._queue.put_nowait((payload, signal, items, confirmed))
        return confirmed

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._send_loop()) for _ in range(self._senders)]

    async def _send_loop(self) -> None:
        while True:
            payload, signal, items, confirmed = await self._queue.get()
            delivered = False
            try:
                if not self._destinations:
                    delivered = True
                elif confirmed is None:
                    delivered = all(await asyncio.gather(*(d.send(payload, signal) for d in self._destinations)))
                    (self.forwarded if delivered else self.dropped)[signal] += items
                else:
                    sent = await asyncio.gather(*(d.send_once(payload, signal) for d in self._destinations))
                    delivered = all(sent)
                    self.forwarded[signal] += items if delivered else 0
            except Exception:  # a sender must survive anything one payload does
                log.exception("forwarding failed")
            finally:
                if confirmed is not None and not confirmed.done():  # done: its sender hung up
                    confirmed.set_result(delivered)
                self._queue.task_done()

    async def stop(self, drain_timeout_s: float) -> None:
        try:
            await asyncio.wait_for(self._queue.join(), drain_timeout_s)
        except TimeoutError:
            log.error("stopping with %d requests not yet forwarded", self._queue.qsize())
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for destination in self._destinations:
            await destination.close()
