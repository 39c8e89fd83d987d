"""Pacing and budgeting of judge calls: a token bucket that makes callers wait, and an hourly budget.

Providers enforce per-minute limits over shorter windows than a minute, so the bucket banks one
second's worth, not a minute's: a service that starts with a backlog paces itself instead of
spending a minute's allowance in one burst and collecting 429s.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable


class TokenBucket:
    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60  # per second
        self.capacity = max(self.rate, 1.0)
        self._level = self.capacity
        self._clock = clock
        self._updated = clock()
        # Waiters are served in arrival order, so a large take is not starved by small ones.
        self._lock = asyncio.Lock()

    async def take(self, amount: float) -> None:
        """Waits until amount is available, then spends it. More than the capacity is taken as debt
        once the bucket is full, which later takes repay: the average rate holds either way."""
        async with self._lock:
            needed = min(amount, self.capacity)
            self._refill()
            while self._level < needed:
                await asyncio.sleep((needed - self._level) / self.rate)
                self._refill()
            self._level -= amount

    def adjust(self, amount: float) -> None:
        """Corrects a take by what was really spent (negative: a refund), once it is known."""
        self._refill()
        self._level = min(self._level - amount, self.capacity)

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._updated) * self.rate)
        self._updated = now


class HourlyBudget:
    """Tokens spent in the last rolling hour, against a maximum."""

    WINDOW_S = 3600.0

    def __init__(self, max_tokens: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_tokens = max_tokens
        self._clock = clock
        self._spent: deque[tuple[float, int]] = deque()
        self._total = 0

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.max_tokens

    @property
    def spent(self) -> int:
        horizon = self._clock() - self.WINDOW_S
        while self._spent and self._spent[0][0] <= horizon:
            self._total -= self._spent.popleft()[1]
        return self._total

    def spend(self, tokens: int) -> None:
        if tokens > 0:
            self._spent.append((self._clock(), tokens))
            self._total += tokens
