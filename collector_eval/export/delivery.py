"""The retry loop every exporter shares: one attempt at a time, exponential backoff with jitter, the
server's own retry delay when it gives one, and a limit on the total time."""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("collector_eval.export")

BACKOFF_INITIAL_S = 0.1
BACKOFF_MAX_S = 5.0


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
    backoff = BACKOFF_INITIAL_S
    while True:
        outcome = await attempt()
        if outcome.delivered:
            return True
        if not outcome.retry:
            log.error("%s refused an export (%s); dropped", destination, outcome.reason)
            return False
        wait = outcome.delay_s if outcome.delay_s is not None else backoff * random.uniform(0.5, 1.0)
        if time.monotonic() + wait > deadline:
            log.error("%s unavailable for %.0fs (%s); export dropped", destination, max_elapsed_s, outcome.reason)
            return False
        await asyncio.sleep(wait)
        backoff = min(backoff * 2, BACKOFF_MAX_S)
