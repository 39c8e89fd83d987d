"""What every signal's receiver shares: its counters, the two ways a request is refused, and the last
step of acknowledging, putting the request in its reserved place in the forward queue.

A request is acknowledged only once what it carries is buffered in Redis (where it needs to be) and
queued for forwarding, whatever the signal and whatever the protocol, so an acknowledgement means
nothing is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from collector_eval.ingest.buffer_full import BufferFull, out_of_memory
from collector_eval.ingest.forwarder import Forwarder
from collector_eval.model import SessionKey
from collector_eval.otlp.check import schema
from collector_eval.otlp.signals import SPECS, Signal
from collector_eval.store.client import REDIS_ERRORS

log = logging.getLogger(__name__)

T = TypeVar("T")

# Told to a sender refused as unavailable: Redis or the forward queue is expected back within seconds.
RETRY_AFTER_S = 1


@dataclass
class ReceiverStats:
    """Plain counters of one protocol's receivers (all signals), read by the metrics collector at
    scrape time (the receivers need no metrics library)."""

    requests: int = 0
    spans: int = 0  # accepted: buffered and queued for forwarding
    log_records: int = 0  # accepted: queued for forwarding (those with a trace id buffered with it)
    data_points: int = 0  # accepted: queued for forwarding
    rejected_spans: int = 0  # refused one by one (partial_success)
    sessions: int = 0  # sessions that received spans, counted once per request
    refused_unavailable: int = 0  # requests
    refused_unavailable_spans: int = 0  # the spans of those requests
    refused_invalid: int = 0
    # Counted by the OTLP/HTTP receiver only: gRPC refuses these before the receiver sees the request.
    refused_too_large: int = 0
    refused_unauthenticated: int = 0
    redis_errors: int = 0
    # session.on_buffer_full: forward: acknowledged without being buffered (Redis at maxmemory); also
    # counted as accepted above.
    unbuffered_requests: int = 0
    unbuffered_spans: int = 0
    unbuffered_log_records: int = 0  # those naming a trace: the others are never buffered
    # forwarding.mode on_verdict: accepted spans held in Redis for their verdict (not forwarded now).
    held_spans: int = 0


class Unbuffered(Enum):
    """What buffered() returns for a write Redis had no memory for (session.on_buffer_full: forward)."""

    UNBUFFERED = "unbuffered"


UNBUFFERED = Unbuffered.UNBUFFERED


class Refusal(StrEnum):
    INVALID = "invalid"  # undecodable: the sender must not retry
    UNAVAILABLE = "unavailable"  # Redis or the downstream cannot take more: retry later


class Refused(Exception):
    """A request that is not acknowledged: `reason` is invalid (do not retry) or unavailable (retry later)."""

    def __init__(self, reason: Refusal, message: str):
        message = brief(message)
        super().__init__(message)
        self.reason = reason
        self.message = message


# A refusal's message goes into the answer and the log: capped, since it can quote the body (an id
# of ten megabytes), and made encodable, since it can quote a JSON string's lone surrogates, which
# neither a protobuf string nor a log line can carry.
MAX_MESSAGE_CHARS = 300


def brief(message: str) -> str:
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "..."
    return message.encode("utf-8", "backslashreplace").decode("utf-8")


def log_refused(protocol: str, signal: Signal, peer: str, answer: str, message: str) -> None:
    """The one line logged for a request refused for what it is (undecodable, too large, of a type not
    served) or with items rejected one by one: the sender's fault, so a warning and never a
    traceback, which would say the service failed."""
    log.warning("%s %s export from %s answered %s: %s", protocol, signal, peer or "?", answer, brief(message))


class SignalReceiver:
    """One signal's receiver. ingest() takes a request's protobuf bytes (and the decoded request when
    the protocol decoded it already, from OTLP/JSON) and returns the response to acknowledge it with,
    or raises Refused. It decode()s or check()s the request first, which counts it."""

    signal: Signal

    def __init__(self, forwarder: Forwarder, stats: ReceiverStats | None = None, full: BufferFull | None = None):
        self._forwarder = forwarder
        self.stats = stats or ReceiverStats()  # shared by the receivers of one protocol
        self.spec = SPECS[self.signal]
        # With session.on_buffer_full: forward, the marks owed for what Redis had no memory for (one
        # for every receiver of the service); None: refuse such a request as unavailable.
        self._full = full

    async def ingest(self, raw: bytes, request: Message | None = None) -> Message:
        raise NotImplementedError

    def decode(self, raw: bytes, request: Message | None) -> Message:
        self.stats.requests += 1
        if request is not None:
            return request
        try:
            return self.spec.request.FromString(raw)
        except DecodeError as exc:
            raise self._invalid(str(exc)) from None

    def check(self, raw: bytes, request: Message | None) -> None:
        """decode() for a receiver that reads the request's bytes and never the decoded request: the
        bytes are checked as protobuf would decode them, without decoding them."""
        self.stats.requests += 1
        if request is None:
            problem = schema(self.spec.request).problem(raw)
            if problem is not None:
                raise self._invalid(problem)

    def _invalid(self, problem: str) -> Refused:
        self.stats.refused_invalid += 1
        return Refused(Refusal.INVALID, f"not an {self.spec.request.__name__}: {problem}")

    def reserve(self) -> None:
        """A place in the forward queue, taken before anything is buffered, so that an acknowledged
        request always has one; release() it if the request is refused after all."""
        if not self._forwarder.try_reserve():
            self.stats.refused_unavailable += 1
            raise Refused(Refusal.UNAVAILABLE, "downstream queue is full; retry later")

    def release(self) -> None:
        """Give back the reserved place of a request that has nothing to forward now."""
        self._forwarder.release()

    async def buffered(
        self, write: Awaitable[T], sessions: Iterable[SessionKey] = (), traces: Iterable[bytes] = ()
    ) -> T | Unbuffered:
        """Run the Redis write of a request that holds its reserved place; a Redis failure gives the
        place back and refuses the request as unavailable. With session.on_buffer_full: forward, a
        write refused for want of memory returns UNBUFFERED instead: the request keeps its place and goes
        on unbuffered, and the sessions and traces (ids) it would have added to are marked truncated
        once Redis has room."""
        try:
            result = await write
        except REDIS_ERRORS as exc:
            if self._full is not None and out_of_memory(exc):
                self.stats.redis_errors += 1
                self.stats.unbuffered_requests += 1
                self._full.owe(sessions, traces)
                log.warning(
                    "redis is full, forwarding %s export unbuffered (session.on_buffer_full): %s", self.signal, exc
                )
                return UNBUFFERED
            self._forwarder.release()
            self.stats.redis_errors += 1
            self.stats.refused_unavailable += 1
            log.warning("redis unavailable, refusing %s export: %s", self.signal, exc)
            raise Refused(Refusal.UNAVAILABLE, f"session buffer unavailable: {type(exc).__name__}") from None
        except BaseException:
            self._forwarder.release()
            raise
        if self._full is not None:
            await self._full.pay()  # Redis took a write: it has room for the marks owed
        return result

    async def forward(self, payload: bytes, items: int) -> None:
        """Queue payload in the reserved place; with receiver.acknowledge: forwarded, wait until every
        downstream took it."""
        confirmed = self._forwarder.submit_reserved(payload, items, self.signal)
        if confirmed is not None and not await confirmed:
            self.stats.refused_unavailable += 1
            raise Refused(Refusal.UNAVAILABLE, f"the downstream did not take the {self.spec.items}; retry later")
