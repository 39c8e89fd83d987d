"""The metrics receiver: metrics are forwarded as they came and never judged, so a request needs only
its place in the forward queue (Redis being down does not refuse it)."""

from __future__ import annotations

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from collector_eval.ingest.receiver import SignalReceiver
from collector_eval.otlp.signals import Signal


class MetricsReceiver(SignalReceiver):
    signal = Signal.METRICS

    async def ingest(self, raw: bytes, request=None) -> ExportMetricsServiceResponse:
        # Decoded to refuse what is not a request (INVALID_ARGUMENT, as for traces) and to count it.
        decoded: ExportMetricsServiceRequest = self.decode(raw, request)
        points = data_point_count(decoded)
        self.reserve()
        await self.forward(raw, points)
        self.stats.data_points += points
        return ExportMetricsServiceResponse()


def data_point_count(request: ExportMetricsServiceRequest) -> int:
    count = 0
    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind is not None:
                    count += len(getattr(metric, kind).data_points)
    return count
