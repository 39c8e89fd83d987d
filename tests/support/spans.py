"""Helpers shared by several test modules."""

from __future__ import annotations

import itertools

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

_ids = itertools.count(1)


def any_value(value) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(
            kvlist_value=KeyValueList(values=[KeyValue(key=k, value=any_value(v)) for k, v in value.items()])
        )
    return AnyValue(string_value=value)


def attrs_of(obj) -> dict:
    """A span's, event's or resource's attributes as plain values."""
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in obj.attributes}


EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def trace_id() -> bytes:
    return (0xC0FFEE << 96 | next(_ids)).to_bytes(16, "big")


def span(tid: bytes, name: str = "span", parent: bytes = b"", **attrs) -> Span:
    n = next(_ids)
    return Span(
        trace_id=tid,
        span_id=n.to_bytes(8, "big"),
        parent_span_id=parent,
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=1_700_000_000_000_000_000 + n,
        end_time_unix_nano=1_700_000_000_000_000_000 + n + 1000,
        attributes=[KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()],
    )


def llm_span(tid: bytes, user: str, assistant: str, parent: bytes = b"", **attrs) -> Span:
    return span(
        tid,
        "ChatCompletion",
        parent,
        **{
            "openinference.span.kind": "LLM",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": user,
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": assistant,
        },
        **attrs,
    )


def end_span(session_id: str, **attrs) -> Span:
    attrs = {"session.id": session_id, "session_status": "completed", **attrs}
    return span(trace_id(), "session end", **attrs)


def request(*spans: Span, service_name: str = "receiver-test") -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=[KeyValue(key="service.name", value=any_value(service_name))]),
                scope_spans=[
                    ScopeSpans(scope=InstrumentationScope(name="receiver-test", version="1"), spans=list(spans))
                ],
            )
        ]
    )


class Client:
    """A raw unary Export call: request bytes out, ExportTraceServiceResponse back."""

    def __init__(self, endpoint: str, **channel_kwargs):
        self.channel = grpc.insecure_channel(endpoint, **channel_kwargs)
        self._call = self.channel.unary_unary(
            EXPORT, request_serializer=None, response_deserializer=ExportTraceServiceResponse.FromString
        )

    def export(self, payload: ExportTraceServiceRequest | bytes, **kwargs) -> ExportTraceServiceResponse:
        raw = payload if isinstance(payload, bytes) else payload.SerializeToString()
        return self._call(raw, timeout=15, **kwargs)

    def close(self) -> None:
        self.channel.close()


def sink_span_ids(sink) -> set[bytes]:
    return {s.span_id for _, _, s in sink.spans()}


def judge_prompt(judge) -> str:
    return judge.requests[-1]["messages"][-1]["content"]
