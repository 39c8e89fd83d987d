"""The retry loop every exporter shares: one attempt at a time, exponential backoff with jitter, the
server's own retry delay when it gives one, and a limit on the total time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from collector_eval.backoff import Backoff
from collector_eval.otlp.signals import Signal

log = logging.getLogger(__name__)

BACKOFF = Backoff(initial_s=0.1, max_s=5.0)


@dataclass
class Outcome:
    """What one attempt came to: delivered, retry (after delay, or backoff when None), or refused."""

    delivered: bool = False
    retry: bool = False
    delay_s: float | None = None
    reason: str = ""


DELIVERED = Outcome(delivered=True)


async def deliver(attempt: Callable[[], Awaitable[Outcome]], destination: str, max_elapsed_s: float) -> bool:
    """Run attempt until it delivers; False once the destination refused the request itself, or it
    was unavailable for max_elapsed_s (math.inf: until it takes it)."""
    deadline = time.monotonic() + max_elapsed_s
    tries = 0
    while True:
        tries += 1
        outcome = await attempt()
        if outcome.delivered:
            return True
        if not outcome.retry:
            log.error("%s refused an export (%s); dropped", destination, outcome.reason)
            return False
        wait = outcome.delay_s if outcome.delay_s is not None else BACKOFF.delay(tries)
        if time.monotonic() + wait > deadline:
            log.error("%s unavailable for %.0fs (%s); export dropped", destination, max_elapsed_s, outcome.reason)
            return False
        await asyncio.sleep(wait)


class Exporter:
    """What every network exporter shares: send() retries _attempt() through deliver() and counts
    what was sent and what was given up."""

    destination: str
    max_elapsed_s: float

    def __init__(self, destination: str, max_elapsed_s: float):
        self.destination = destination
        self.max_elapsed_s = max_elapsed_s
        self.sent = 0
        self.dropped = 0

    async def send(self, payload: bytes, signal: Signal = Signal.TRACES, max_elapsed_s: float | None = None) -> bool:
        """Deliver one request of a signal; False once it was given up: refused, or unavailable past
        max_elapsed_s (default: the exporter's setting; math.inf: until the downstream takes it)."""
        ok = await deliver(
            lambda: self._attempt(payload, signal),
            self.destination,
            self.max_elapsed_s if max_elapsed_s is None else max_elapsed_s,
        )
        if ok:
            self.sent += 1
        else:
            self.dropped += 1
        return ok

    async def send_once(self, payload: bytes, signal: Signal = Signal.TRACES) -> bool:
        """One attempt, for a sender that retries on its own: a failure is its to retry, not a drop."""
        outcome = await self._attempt(payload, signal)
        if outcome.delivered:
            self.sent += 1
        else:
            log.warning("%s did not take an export (%s); its sender is told to retry", self.destination, outcome.reason)
        return outcome.delivered

    async def _attempt(self, payload: bytes, signal: Signal) -> Outcome:
        raise NotImplementedError
