"""The trace receiver: an Export request is split into per-trace chunks, buffered in its sessions in
Redis (ended sessions scheduled for judging), and queued for forwarding as it came.

Refusals follow the OTLP spec: invalid for an undecodable request (not retryable), unavailable when
Redis or the downstream queue cannot take more (retryable), partial_success for individual bad spans.
"""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector_eval.ingest.buffer_full import BufferFull
from collector_eval.ingest.forwarder import Forwarder
from collector_eval.ingest.receiver import UNBUFFERED, ReceiverStats, Refused, SignalReceiver
from collector_eval.otlp.signals import Signal
from collector_eval.sessions.buffer import SessionBuffer
from collector_eval.sessions.router import Routed, SessionRouter


class TraceReceiver(SignalReceiver):
    signal = Signal.TRACES

    def __init__(
        self,
        router: SessionRouter,
        buffer: SessionBuffer,
        forwarder: Forwarder,
        on_scheduled: Callable[[], None] = lambda: None,
        stats: ReceiverStats | None = None,
        full: BufferFull | None = None,
        hold: bool = False,
    ):
        super().__init__(forwarder, stats, full)
        self._router = router
        self._buffer = buffer
        self._on_scheduled = on_scheduled  # a session was scheduled for judging
        # forwarding.mode on_verdict: buffered spans wait for their session's verdict (the releaser
        # sends them); only spans Redis did not keep are forwarded from here.
        self._hold = hold

    async def ingest(self, raw: bytes, request=None) -> ExportTraceServiceResponse:
        """Route, buffer and queue one request. Returns once the spans are buffered and queued, so
        every protocol acknowledges on the same terms; raises Refused when the request is not
        acknowledged."""
        self.check(raw, request)
        routed = self._router.route(raw)
        accepted = routed.span_count
        rejected = routed.rejected
        try:
            self.reserve()
            stored = await self.buffered(self._buffer.store(routed), routed.sessions, routed.orphans)
            if stored is not UNBUFFERED and stored.scheduled:
                self._on_scheduled()
            # Rejected spans are not accepted, so they are not forwarded either. Buffered already:
            # if the downstream refuses, the retry buffers its spans again, and a session loads each
            # span once.
            if not self._hold or stored is UNBUFFERED:
                await self.forward(_without_rejected(routed) if rejected.count else raw, accepted)
            elif stored.unheld:
                await self.forward(b"".join(stored.unheld), stored.unheld_spans)
            else:
                self.release()
        except Refused:
            self._count_unavailable(routed)
            raise
        self.stats.spans += accepted
        if stored is UNBUFFERED:  # acknowledged unbuffered (session.on_buffer_full: forward)
            self.stats.unbuffered_spans += accepted
        elif self._hold:
            self.stats.held_spans += accepted - stored.unheld_spans
        self.stats.rejected_spans += rejected.count
        self.stats.sessions += len(routed.sessions)
        if rejected.count:
            return self.spec.partial(rejected.count, rejected.message)
        return ExportTraceServiceResponse()

    def _count_unavailable(self, routed: Routed) -> None:
        self.stats.refused_unavailable_spans += routed.rejected.count + routed.span_count


def _without_rejected(routed: Routed) -> bytes:
    # TracesData and ExportTraceServiceRequest share their wire layout: chunks concatenate into a request.
    return b"".join(chunk.payload() for chunk in routed.chunks())
