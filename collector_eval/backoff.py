"""The one retry policy: exponential backoff with equal jitter, and the server's own Retry-After
when it sends one. The judge, every exporter and the outbox wait through it."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass
class Backoff:
    initial_s: float
    max_s: float

    def delay(self, attempt: int) -> float:
        """The wait before retry number `attempt` (1 for the first retry)."""
        ceiling = min(self.max_s, self.initial_s * 2 ** (attempt - 1))
        # Equal jitter: replicas that failed together do not retry together.
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait (Retry-After-Ms or Retry-After, in seconds); None when it
    asked nothing, or gave an HTTP date, which our own backoff stands in for."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if seconds >= 0:
            return seconds
    return None
