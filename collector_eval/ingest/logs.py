"""The logs receiver: log records that name a trace are buffered with it in Redis (GenAI
instrumentations put the conversation there), then the request is forwarded as it came.

Records without a trace id need only their place in the forward queue; a request with any that name
a trace is refused as unavailable while Redis is down, like spans, so none is acknowledged unbuffered.
"""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from collector_eval.ingest.buffer_full import BufferFull
from collector_eval.ingest.forwarder import Forwarder
from collector_eval.ingest.receiver import UNBUFFERED, ReceiverStats, SignalReceiver
from collector_eval.otlp.signals import Signal
from collector_eval.sessions.buffer import SessionBuffer
from collector_eval.sessions.log_router import route_logs


class LogsReceiver(SignalReceiver):
    signal = Signal.LOGS

    def __init__(
        self,
        buffer: SessionBuffer,
        forwarder: Forwarder,
        stats: ReceiverStats | None = None,
        full: BufferFull | None = None,
    ):
        super().__init__(forwarder, stats, full)
        self._buffer = buffer

    async def ingest(self, raw: bytes, request=None) -> ExportLogsServiceResponse:
        decoded: ExportLogsServiceRequest = self.decode(raw, request)
        records = sum(len(sl.log_records) for rl in decoded.resource_logs for sl in rl.scope_logs)
        chunks = route_logs(decoded)
        self.reserve()
        unbuffered = 0
        if chunks:
            stored = await self.buffered(self._buffer.store_logs(list(chunks.values())), traces=chunks)
            if stored is UNBUFFERED:  # acknowledged unbuffered (session.on_buffer_full: forward)
                unbuffered = sum(chunk.records for chunk in chunks.values())
        await self.forward(raw, records)
        self.stats.log_records += records
        self.stats.unbuffered_log_records += unbuffered
        return ExportLogsServiceResponse()
