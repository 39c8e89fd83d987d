"""Log and metric requests for tests, built with the OTLP protobuf types."""

from __future__ import annotations

import os

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Exemplar, Metric, NumberDataPoint, Sum

from tests.support.spans import any_value


def log_record(body, trace_id: bytes = b"", span_id: bytes = b"", event_name: str = "", **attrs) -> LogRecord:
    return LogRecord(
        time_unix_nano=1_700_000_000_000_000_000,
        body=any_value(body),
        trace_id=trace_id,
        span_id=span_id,
        event_name=event_name,
        attributes=[KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()],
    )


def logs_request(*records: LogRecord, service_name: str = "signals-test") -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.add(key="service.name", value=any_value(service_name))
    sl = rl.scope_logs.add(scope=InstrumentationScope(name="test-logger", version="1"))
    sl.log_records.extend(records)
    return req


def metrics_request(*values: int, exemplar_trace_id: bytes = b"") -> ExportMetricsServiceRequest:
    """One monotonic counter with a data point per value; the first carries an exemplar when a trace id is given."""
    points = [
        NumberDataPoint(as_int=v, start_time_unix_nano=1, time_unix_nano=2 + i, attributes=[])
        for i, v in enumerate(values)
    ]
    if exemplar_trace_id and points:
        points[0].exemplars.append(Exemplar(as_int=values[0], trace_id=exemplar_trace_id, span_id=os.urandom(8)))
    metric = Metric(
        name="gen_ai.client.token.usage.test",
        unit="{token}",
        sum=Sum(data_points=points, aggregation_temporality=2, is_monotonic=True),
    )
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.add(key="service.name", value=any_value("signals-test"))
    rm.scope_metrics.add(scope=InstrumentationScope(name="test-meter"), metrics=[metric])
    return req
