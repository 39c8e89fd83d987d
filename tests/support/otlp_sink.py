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
        logs = _Recorder(self._lock, self.logs_requests, logs_service_pb2.ExportLogsServiceResponse)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(logs, self._server)
        metrics = _Recorder(self._lock, self.metrics_requests, metrics_service_pb2.ExportMetricsServiceResponse)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(metrics, self._server)
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
        return self._items(self.requests, "resource_spans", "scope_spans", "spans")

    def log_records(self) -> list:
        """Every received log record as (resource, scope, record)."""
        return self._items(self.logs_requests, "resource_logs", "scope_logs", "log_records")

    def metrics(self) -> list:
        """Every received metric as (resource, scope, metric)."""
        return self._items(self.metrics_requests, "resource_metrics", "scope_metrics", "metrics")

    def _items(self, requests: list, resources: str, scopes: str, items: str) -> list:
        with self._lock:
            requests = list(requests)
        return [
            (outer.resource, inner.scope, item)
            for req in requests
            for outer in getattr(req, resources)
            for inner in getattr(outer, scopes)
            for item in getattr(inner, items)
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


class _Recorder:
    """The Export method of the logs or the metrics service: keeps every request."""

    def __init__(self, lock: threading.Lock, requests: list, response):
        self._lock, self._requests, self._response = lock, requests, response

    def Export(self, request, context):
        with self._lock:
            self._requests.append(request)
        return self._response()
