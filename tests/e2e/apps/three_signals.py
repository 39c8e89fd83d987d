"""An app configured through the standard OpenTelemetry environment variables only (endpoint,
protocol, service name): it exports traces, logs and metrics of one chat session, the conversation in
GenAI per-message log events linked to the chat span (as opentelemetry-instrumentation-openai-v2 logs
it), and writes what it emitted to the JSON file named by its argument.

Run: OTEL_EXPORTER_OTLP_ENDPOINT=... OTEL_EXPORTER_OTLP_PROTOCOL=grpc|http/protobuf \
     OTEL_SERVICE_NAME=... python three_signals.py emitted.json SESSION_ID
"""

from __future__ import annotations

import json
import os
import sys

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

if os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
else:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

QUESTION = "Which river runs through Lisbon?"
ANSWER = "The Tagus runs through Lisbon."

out_path, session_id = sys.argv[1], sys.argv[2]
resource = Resource.create()  # service.name from OTEL_SERVICE_NAME

# The exporters take everything from the environment; the in-memory ones record what was emitted.
spans_seen = InMemorySpanExporter()
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
tracer_provider.add_span_processor(SimpleSpanProcessor(spans_seen))
logs_seen = InMemoryLogRecordExporter()
logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs_seen))
metrics_seen = InMemoryMetricReader()
meter_provider = MeterProvider(
    resource=resource,
    metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=60_000), metrics_seen],
)

tracer = tracer_provider.get_tracer("three-signals-app")
logger = logger_provider.get_logger("opentelemetry.instrumentation.openai_v2")
meter = meter_provider.get_meter("three-signals-app")
tokens = meter.create_histogram("gen_ai.client.token.usage", unit="{token}")
calls = meter.create_counter("app.chat.calls")

with tracer.start_as_current_span("chat_turn", attributes={"session.id": session_id}):
    with tracer.start_as_current_span(
        "chat gpt-4o-mini", attributes={"gen_ai.operation.name": "chat", "gen_ai.system": "openai"}
    ):
        logger.emit(
            event_name="gen_ai.user.message", body={"content": QUESTION}, attributes={"gen_ai.system": "openai"}
        )
        logger.emit(
            event_name="gen_ai.choice",
            body={"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": ANSWER}},
            attributes={"gen_ai.system": "openai"},
        )
        tokens.record(12, {"gen_ai.token.type": "input"})
        tokens.record(7, {"gen_ai.token.type": "output"})
        calls.add(1)
logger.emit(body="a log record outside any trace")
with tracer.start_as_current_span("session end", attributes={"session.id": session_id, "session_status": "completed"}):
    pass

points = []
for rm in metrics_seen.get_metrics_data().resource_metrics:
    for sm in rm.scope_metrics:
        for metric in sm.metrics:
            for point in metric.data.data_points:
                value = getattr(point, "value", None)
                points.append([metric.name, dict(point.attributes), float(value if value is not None else point.sum)])
# Logs before spans, as the SDK's shutdown order would have it in an app that flushes its log
# processor first; metrics last.
logger_provider.shutdown()
tracer_provider.shutdown()
meter_provider.shutdown()
with open(out_path, "w") as f:
    json.dump(
        {
            "span_ids": [format(s.context.span_id, "016x") for s in spans_seen.get_finished_spans()],
            "logs": [
                [
                    r.log_record.event_name or "",
                    format(r.log_record.trace_id or 0, "032x"),
                    r.log_record.body
                    if isinstance(r.log_record.body, str)
                    else json.dumps(r.log_record.body, sort_keys=True),
                ]
                for r in logs_seen.get_finished_logs()
            ],
            "points": points,
        },
        f,
    )
