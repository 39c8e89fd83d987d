"""session.on_buffer_full: forward. A request Redis refuses for want of memory (maxmemory reached,
noeviction) is forwarded and acknowledged without being buffered, so telemetry keeps flowing and only
the evaluation loses; the sessions and traces it would have added to are marked truncated, reason
buffer_full, so that their verdicts say they saw part of the conversation.

Redis refuses that small write too while it is full, so the marks wait here, in memory, until the
next buffer write Redis takes: a process that dies before then loses its marks, never spans (those
were forwarded).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from redis.exceptions import OutOfMemoryError

from collector_eval.model import SessionKey
from collector_eval.sessions.buffer import SessionBuffer
from collector_eval.store.client import REDIS_ERRORS

log = logging.getLogger(__name__)

REASON = "buffer_full"
# Sessions and traces waiting to be marked; past this (Redis full for a long time under many
# sessions) further ones are counted in `dropped` and go unmarked, rather than growing without bound.
MAX_PENDING = 100_000


def out_of_memory(exc: BaseException) -> bool:
    """Redis at maxmemory: an OOM error reply (redis-py's OutOfMemoryError); Redis 6 wraps a
    script's in a script error, hence the text."""
    return isinstance(exc, OutOfMemoryError) or "OOM command not allowed" in str(exc)


class BufferFull:
    """The marks owed by one buffer's receivers (every signal, every protocol): the service makes one
    and gives it to each of them."""

    def __init__(self, buffer: SessionBuffer):
        self._buffer = buffer
        self._sessions: set[SessionKey] = set()
        self._traces: set[bytes] = set()
        self._marking = False
        self.dropped = 0

    @property
    def pending(self) -> int:
        return len(self._sessions) + len(self._traces)

    def owe(self, sessions: Iterable[SessionKey], traces: Iterable[bytes]) -> None:
        """Sessions and traces (by id) that lost spans of a request acknowledged unbuffered."""
        for key in sessions:
            if key not in self._sessions and self._full():
                continue
            self._sessions.add(key)
        for trace_id in traces:
            if trace_id not in self._traces and self._full():
                continue
            self._traces.add(trace_id)

    def _full(self) -> bool:
        if self.pending < MAX_PENDING:
            return False
        if not self.dropped:
            log.error("%d sessions and traces wait to be marked truncated; further ones will not be", MAX_PENDING)
        self.dropped += 1
        return True

    async def pay(self) -> None:
        """Write the marks owed, after a write Redis took (so it has room again). Never raises: the
        request that calls it is buffered already; marks Redis still refuses wait for the next."""
        if not self.pending or self._marking:
            return
        sessions, traces = self._sessions, self._traces
        self._sessions, self._traces = set(), set()
        self._marking = True  # one write at a time: concurrent requests find nothing to pay
        try:
            await self._buffer.mark_truncated(sessions, traces, REASON)
            log.info("marked %d sessions and %d traces truncated (%s)", len(sessions), len(traces), REASON)
        except Exception as exc:
            self.owe(sessions, traces)
            level = logging.DEBUG if isinstance(exc, REDIS_ERRORS) else logging.ERROR
            log.log(level, "cannot mark sessions truncated (%s) yet: %s", REASON, exc)
        finally:
            self._marking = False
