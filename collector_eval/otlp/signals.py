"""The three OTLP signals and what differs between them on the wire: the gRPC service, the OTLP/HTTP
path, the request and response messages, and what a partial success counts. Receivers and exporters
take one signal's row instead of naming traces, logs or metrics themselves."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


class Signal(StrEnum):
    TRACES = "traces"
    LOGS = "logs"
    METRICS = "metrics"


@dataclass(frozen=True)
class SignalSpec:
    signal: Signal
    service: str  # the gRPC service; its one method is Export
    path: str  # the OTLP/HTTP path
    request: type[Message]
    response: type[Message]
    partial_success: type[Message]
    rejected_field: str  # the partial success's count of refused items
    json_key: str  # the request's top-level key in OTLP/JSON
    items: str  # what the signal carries, for messages

    @property
    def export_method(self) -> str:
        return f"/{self.service}/Export"

    def rejected(self, response: Message) -> tuple[int, str]:
        """A response's partial success: how many items the peer refused, and why."""
        partial = response.partial_success
        return getattr(partial, self.rejected_field), partial.error_message

    def partial(self, rejected: int, message: str) -> Message:
        """A response refusing `rejected` items one by one."""
        return self.response(
            partial_success=self.partial_success(**{self.rejected_field: rejected}, error_message=message)
        )


SPECS = {
    Signal.TRACES: SignalSpec(
        Signal.TRACES,
        "opentelemetry.proto.collector.trace.v1.TraceService",
        "/v1/traces",
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
        ExportTracePartialSuccess,
        "rejected_spans",
        "resourceSpans",
        "spans",
    ),
    Signal.LOGS: SignalSpec(
        Signal.LOGS,
        "opentelemetry.proto.collector.logs.v1.LogsService",
        "/v1/logs",
        ExportLogsServiceRequest,
        ExportLogsServiceResponse,
        ExportLogsPartialSuccess,
        "rejected_log_records",
        "resourceLogs",
        "log records",
    ),
    Signal.METRICS: SignalSpec(
        Signal.METRICS,
        "opentelemetry.proto.collector.metrics.v1.MetricsService",
        "/v1/metrics",
        ExportMetricsServiceRequest,
        ExportMetricsServiceResponse,
        ExportMetricsPartialSuccess,
        "rejected_data_points",
        "resourceMetrics",
        "data points",
    ),
}
