"""Hostile request bodies for every signal, built at the wire level where the protobuf runtime would
refuse to build them (5,000 levels of nesting, invalid UTF-8), and a probe that sends one over
OTLP/HTTP or OTLP/gRPC and checks what a hostile body must get: the documented answer, one log line
and no traceback, and the service still taking a good request afterwards."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import code_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from collector_eval.otlp.json_format import request_to_otlp_json
from collector_eval.otlp.signals import SPECS, Signal
from tests.ingest.test_http_receiver import PROTOBUF, post, status_of
from tests.support.signals import log_record, logs_request, metrics_request
from tests.support.spans import request, span, trace_id
from tests.support.wire import length_delimited

# Where each signal keeps its items, outermost first, and the item's attributes field: hostile bytes
# are appended to one valid item and wrapped level by level, so no protobuf object ever holds them.
_LEVELS = {
    Signal.TRACES: [
        (ResourceSpans, "scope_spans"),
        (ScopeSpans, "spans"),
    ],
    Signal.LOGS: [
        (ResourceLogs, "scope_logs"),
        (ScopeLogs, "log_records"),
    ],
    Signal.METRICS: [
        (ResourceMetrics, "scope_metrics"),
        (ScopeMetrics, "metrics"),
        (Metric, "gauge"),
        (Gauge, "data_points"),
    ],
}
_ITEM_ATTRIBUTES = {Signal.TRACES: (Span, "attributes"), Signal.LOGS: (LogRecord, "attributes")}
_ITEM_ATTRIBUTES[Signal.METRICS] = (NumberDataPoint, "attributes")


def _number(message: type[Message], name: str) -> int:
    return message.DESCRIPTOR.fields_by_name[name].number


def good(signal: Signal) -> Message:
    if signal == Signal.TRACES:
        return request(span(trace_id(), "good"))
    if signal == Signal.LOGS:
        return logs_request(log_record("good"))
    return metrics_request(1)


def _item(signal: Signal) -> bytes:
    if signal == Signal.TRACES:
        return span(trace_id(), "hostile").SerializeToString()
    if signal == Signal.LOGS:
        return log_record("hostile").SerializeToString()
    return NumberDataPoint(as_int=1, time_unix_nano=2).SerializeToString()


def with_attribute(signal: Signal, *key_values: bytes) -> bytes:
    """A request of the signal whose one item carries key_values (KeyValues' bytes) as attributes."""
    item_type, attributes = _ITEM_ATTRIBUTES[signal]
    number = _number(item_type, attributes)
    body = b"".join([_item(signal), *(length_delimited(number, [kv]) for kv in key_values)])
    for message, name in reversed(_LEVELS[signal]):
        if message is Metric:  # a metric needs its name beside its data
            body = Metric(name="hostile").SerializeToString() + length_delimited(_number(message, name), [body])
        else:
            body = length_delimited(_number(message, name), [body])
    return length_delimited(1, [body])  # resource_spans, resource_logs, resource_metrics: field 1


def key_value(key: bytes, value: bytes) -> bytes:
    return length_delimited(1, [key]) + length_delimited(2, [value])


def deep_value(levels: int, kind: str = "array") -> bytes:
    """An AnyValue nesting `levels` arrayValues (or kvlistValues) around a string."""
    value = length_delimited(_number(AnyValue, "string_value"), [b"x"])
    array, kvlist = _number(AnyValue, "array_value"), _number(AnyValue, "kvlist_value")
    for _ in range(levels):
        if kind == "array":
            value = length_delimited(array, [length_delimited(_number(ArrayValue, "values"), [value])])
        else:
            value = length_delimited(
                kvlist, [length_delimited(_number(KeyValueList, "values"), [key_value(b"k", value)])]
            )
    return value


def deep_json_value(levels: int, kind: str = "array") -> str:
    """The OTLP/JSON text of deep_value: built as text, since json.dumps recurses too."""
    opening = '{"arrayValue": {"values": [' if kind == "array" else '{"kvlistValue": {"values": [{"key": "k", "value": '
    closing = "]}}" if kind == "array" else "}]}}"
    return opening * levels + '{"stringValue": "x"}' + closing * levels


def json_with_value(signal: Signal, value_text: str) -> bytes:
    """An OTLP/JSON request of the signal whose one item has attribute "k" = value_text (JSON text)."""
    doc = request_to_otlp_json(good(signal))
    marker = "__HOSTILE_VALUE__"
    item = json_item(doc, signal)
    item["attributes"] = [{"key": "k", "value": marker}]
    return json.dumps(doc).replace(json.dumps(marker), value_text).encode()


def json_item(doc: dict, signal: Signal) -> dict:
    """The first item (span, log record, data point) of an OTLP/JSON request."""
    if signal == Signal.TRACES:
        return doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    if signal == Signal.LOGS:
        return doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    return doc["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["sum"]["dataPoints"][0]


_RPC_CODE = {400: code_pb2.INVALID_ARGUMENT, 413: code_pb2.RESOURCE_EXHAUSTED, 415: code_pb2.INVALID_ARGUMENT}


@dataclass
class Probe:
    """Sends hostile bodies to one running service and checks each answer, its log, and that a good
    request of the same signal and protocol passes right after."""

    svc: object
    caplog: pytest.LogCaptureFixture
    sent: list[str] = field(default_factory=list)  # what was checked, for the failure message

    def http(self, signal: Signal, body: bytes, content_type: str, expect: int, lines: int = 1, **headers) -> None:
        self.caplog.clear()
        reply = post(self.svc, body, content_type, path=SPECS[signal].path, **headers)
        what = f"HTTP {content_type} {signal}"
        self.sent.append(what)
        assert reply.status == expect, f"{what}: {reply.status} {reply.body[:300]!r}"
        if expect != 200:
            assert status_of(reply).code == _RPC_CODE[expect], what
        self._one_line(what, lines)
        good_reply = post(self.svc, good(signal).SerializeToString(), PROTOBUF, path=SPECS[signal].path)
        assert good_reply.status == 200, f"good request after {what}: {good_reply.status}"

    def grpc(self, signal: Signal, raw: bytes, expect: grpc.StatusCode, lines: int | None = 1, compress=False) -> None:
        self.caplog.clear()
        what = f"gRPC {signal}"
        self.sent.append(what)
        with grpc.insecure_channel(self.svc.endpoint, options=[("grpc.max_send_message_length", -1)]) as channel:
            call = channel.unary_unary(SPECS[signal].export_method, request_serializer=None, response_deserializer=None)
            compression = grpc.Compression.Gzip if compress else None
            try:
                call(raw, timeout=15, compression=compression)
                code = grpc.StatusCode.OK
            except grpc.RpcError as err:
                code = err.code()
            assert code == expect, f"{what}: {code}"
            self._one_line(what, lines)
            call(good(signal).SerializeToString(), timeout=15)

    def _one_line(self, what: str, lines: int | None) -> None:
        """lines: how many warnings the answer must have logged; None: at most one (gRPC refuses a
        message over its size limit itself, before collector-eval sees it)."""
        records = [r for r in self.caplog.records if r.levelno >= logging.WARNING]
        assert not any(r.exc_info for r in records), f"{what}: a traceback was logged"
        found = f"{what}: {len(records)} log lines: {[r.getMessage()[:200] for r in records]}"
        assert len(records) <= 1 if lines is None else len(records) == lines, found
