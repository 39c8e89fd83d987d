"""A real OTLP/gRPC receiver for tests: the downstream that collector-eval forwards to, taking all
three signals."""

from __future__ import annotations

import datetime
import threading
import time
from concurrent import futures

import grpc
from google.rpc import error_details_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)


def _retry_info(delay_s: float) -> bytes:
    info = error_details_pb2.RetryInfo()
    info.retry_delay.FromTimedelta(datetime.timedelta(seconds=delay_s))
    return info.SerializeToString()


class OtlpSink(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, port: int = 0):
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        # Scripted failures, answered (and consumed) before any request is accepted: (code, retry delay s | None).
        self.failures: list[tuple[grpc.StatusCode, float | None]] = []
        self.refused = 0
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)
        self.logs_requests: list[logs_service_pb2.ExportLogsServiceRequest] = []
        self.metrics_requests: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_Logs(self), self._server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(self), self._server)
        self.port = self._server.add_insecure_port(f"127.0.0.1:{port}")
        self.endpoint = f"127.0.0.1:{self.port}"

    def Export(self, request, context):
        with self._lock:
            failure = self.failures.pop(0) if self.failures else None
            if failure is None:
                self.requests.append(request)
            else:
                self.refused += 1
        if failure is not None:
            code, delay = failure
            if delay is not None:
                context.set_trailing_metadata([("google.rpc.retryinfo-bin", _retry_info(delay))])
            context.abort(code, "scripted failure")
        return trace_service_pb2.ExportTraceServiceResponse()

    def start(self) -> OtlpSink:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)

    def spans(self) -> list:
        """Every received span as (resource, scope, span)."""
        with self._lock:
            requests = list(self.requests)
        return [
            (rs.resource, ss.scope, span)
            for req in requests
            for rs in req.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]

    def log_records(self) -> list:
        """Every received log record as (resource, scope, record)."""
        with self._lock:
            requests = list(self.logs_requests)
        return [
            (rl.resource, sl.scope, record)
            for req in requests
            for rl in req.resource_logs
            for sl in rl.scope_logs
            for record in sl.log_records
        ]

    def metrics(self) -> list:
        """Every received metric as (resource, scope, metric)."""
        with self._lock:
            requests = list(self.metrics_requests)
        return [
            (rm.resource, sm.scope, metric)
            for req in requests
            for rm in req.resource_metrics
            for sm in rm.scope_metrics
            for metric in sm.metrics
        ]

    def carriers(self) -> list:
        return [t for t in self.spans() if t[2].name == "evaluate_session"]

    def wait_for(self, predicate, timeout_s: float = 20.0):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(self):
                return
            time.sleep(0.05)
        raise AssertionError(f"downstream never satisfied the condition; got {len(self.spans())} spans")


class _Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, sink: OtlpSink):
        self._sink = sink

    def Export(self, request, context):
        with self._sink._lock:
            self._sink.logs_requests.append(request)
        return logs_service_pb2.ExportLogsServiceResponse()


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, sink: OtlpSink):
        self._sink = sink

    def Export(self, request, context):
        with self._sink._lock:
            self._sink.metrics_requests.append(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()
