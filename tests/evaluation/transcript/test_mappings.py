"""transcript.mappings: a made-up instrumentation ("acme-llm", recorded with the real OpenTelemetry SDK)
that no built-in reader knows is read right only with a mapping, in each message shape; the mapping
comes before the built-in readers on the spans it matches, and leaves the others to them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from collector_eval.evaluation.transcript.builder import build_transcript
from collector_eval.evaluation.transcript.options import TranscriptConfig
from collector_eval.runtime.config import config_from_dict

SCOPE = "acme-llm"
QUESTION = "What is the weather in Lisbon?"
ANSWER = "It is 19 C and sunny in Lisbon."
HISTORY = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}]
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Lisbon"}'}}
EXPECTED = [
    {"role": "user", "content": QUESTION},
    {"role": "assistant", "content": "", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Lisbon"}}]},
    {"role": "tool", "content": "19 C, sunny"},
    {"role": "assistant", "content": ANSWER},
]


@contextmanager
def recorded(scope: str = SCOPE) -> Iterator[tuple[Tracer, list[ResourceSpans]]]:
    """A tracer of the real SDK; on exit, what it recorded as OTLP, as the service receives it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    out: list[ResourceSpans] = []
    yield provider.get_tracer(scope, "2.3"), out
    provider.shutdown()
    out += encode_spans(exporter.get_finished_spans()).resource_spans


def transcript(resource_spans: list[ResourceSpans], mappings: list[dict[str, Any]] | None = None, logs=()):
    config = config_from_dict({"transcript": {"mappings": mappings}}).transcript if mappings else None
    return build_transcript(resource_spans, logs, config)


def acme_session() -> list[ResourceSpans]:
    """Two model calls and a tool run, the conversation in acme's own attributes (OpenAI chat JSON)."""
    with recorded() as (tracer, spans):
        with tracer.start_as_current_span("acme.chat") as span:
            span.set_attribute("acme.request.messages", json.dumps(HISTORY))
            span.set_attribute("acme.response.message", json.dumps({"content": None, "tool_calls": [CALL]}))
        with tracer.start_as_current_span("acme.tool") as span:
            span.set_attribute("acme.tool.name", "get_weather")
            span.set_attribute("acme.tool.call_id", "call_1")
            span.set_attribute("acme.tool.output", "19 C, sunny")
        with tracer.start_as_current_span("acme.chat") as span:
            # The history as acme sends it: the tool result is not in it, only the tool span has it.
            history = [*HISTORY, {"role": "assistant", "content": None, "tool_calls": [CALL]}]
            span.set_attribute("acme.request.messages", json.dumps(history))
            span.set_attribute("acme.response.message", json.dumps({"role": "assistant", "content": ANSWER}))
    return spans


ACME = {
    "match": {"scope": SCOPE},
    "shape": "openai_chat",
    "input": "acme.request.messages",
    "output": "acme.response.message",
    "tool": {"name": "acme.tool.name", "id": "acme.tool.call_id", "result": "acme.tool.output"},
}


def test_unknown_instrumentation_has_no_content_and_names_its_scope() -> None:
    found = transcript(acme_session())
    assert not found.has_content
    assert found.scopes == ["acme-llm 2.3"]
    assert "no message content in spans of scopes: acme-llm 2.3" in found.no_content_explanation


def test_openai_chat_mapping_reads_the_conversation_and_its_tool_runs() -> None:
    found = transcript(acme_session(), [ACME])
    assert found.to_dicts() == EXPECTED
    assert found.warnings == []
    assert found.turns[2].name == "get_weather"


def test_mapping_matches_by_scope_glob_and_attribute() -> None:
    spans = acme_session()
    assert transcript(spans, [{**ACME, "match": {"scope": "acme-*"}}]).to_dicts() == EXPECTED
    # By an attribute alone: the chat spans carry it, the tool span not (so no tool turn).
    by_key = transcript(spans, [{**ACME, "match": {"attribute": "acme.request.messages"}, "tool": {}}])
    assert [t["role"] for t in by_key.to_dicts()] == ["user", "assistant", "assistant"]
    # Both given, both must hold: another scope's spans are not read.
    neither = {**ACME, "match": {"scope": "other", "attribute": "acme.request.messages"}}
    assert not transcript(spans, [neither]).has_content


def test_genai_parts_shape() -> None:
    with recorded() as (tracer, spans):
        with tracer.start_as_current_span("acme.chat") as span:
            parts = [{"role": "user", "parts": [{"type": "text", "content": QUESTION}]}]
            span.set_attribute("acme.in", json.dumps(parts))
            reply = [{"role": "assistant", "parts": [{"type": "text", "content": ANSWER}]}]
            span.set_attribute("acme.out", json.dumps(reply))
    mapping = {"match": {"scope": SCOPE}, "shape": "genai_parts", "input": "acme.in", "output": "acme.out"}
    assert not transcript(spans).has_content
    assert transcript(spans, [mapping]).to_dicts() == [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": ANSWER},
    ]


def test_openinference_shape_under_a_prefix_of_its_own() -> None:
    with recorded() as (tracer, spans):
        with tracer.start_as_current_span("acme.chat") as span:
            span.set_attribute("acme.prompt.0.message.role", "user")
            span.set_attribute("acme.prompt.0.message.content", QUESTION)
            span.set_attribute("acme.reply.0.message.content", ANSWER)  # no role: the assistant's
            span.set_attribute("acme.reply.0.message.tool_calls.0.tool_call.function.name", "get_weather")
            span.set_attribute("acme.reply.0.message.tool_calls.0.tool_call.function.arguments", '{"city": "Lisbon"}')
    mapping = {"match": {"scope": SCOPE}, "shape": "openinference", "input": "acme.prompt", "output": "acme.reply"}
    assert not transcript(spans).has_content
    assert transcript(spans, [mapping]).to_dicts() == [
        {"role": "user", "content": QUESTION},
        {
            "role": "assistant",
            "content": ANSWER,
            "tool_calls": [{"name": "get_weather", "arguments": {"city": "Lisbon"}}],
        },
    ]


def test_text_shape_from_span_events() -> None:
    with recorded() as (tracer, spans):
        for question, answer in ((QUESTION, ANSWER), ("And tomorrow?", "Rain.")):
            with tracer.start_as_current_span("widget.call", attributes={"widget.model": "w-1"}) as span:
                span.add_event("widget.prompt", {"text": question})
                span.add_event("widget.completion", {"text": answer})
    mapping = {
        "match": {"scope": SCOPE, "attribute": "widget.model"},
        "shape": "text",
        "input": {"event": "widget.prompt", "key": "text"},
        "output": {"event": "widget.completion", "key": "text"},
    }
    assert not transcript(spans).has_content
    found = transcript(spans, [mapping])
    assert [t.content for t in found.turns] == [QUESTION, ANSWER, "And tomorrow?", "Rain."]
    assert [t.role for t in found.turns] == ["user", "assistant", "user", "assistant"]
    assert found.warnings == []


def test_openai_chat_messages_one_log_record_each() -> None:
    """The body of log records tied to the span, one message per record."""
    with recorded() as (tracer, spans):
        with tracer.start_as_current_span("acme.chat"):
            pass
    (span,) = [s for rs in spans for ss in rs.scope_spans for s in ss.spans]
    records = [
        _log(span.trace_id, span.span_id, 1, "acme.message", {"role": "user", "content": QUESTION}),
        _log(span.trace_id, span.span_id, 2, "acme.reply", {"content": ANSWER}),
    ]
    logs = [ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])]
    mapping = {
        "match": {"scope": SCOPE},
        "input": {"event": "acme.message"},
        "output": {"event": "acme.reply"},
    }
    assert not transcript(spans, logs=logs).has_content
    assert transcript(spans, [mapping], logs).to_dicts() == [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": ANSWER},
    ]


def _log(trace_id: bytes, span_id: bytes, time: int, name: str, body: dict[str, str]) -> LogRecord:
    return LogRecord(
        time_unix_nano=time,
        trace_id=trace_id,
        span_id=span_id,
        event_name=name,
        body=AnyValue(string_value=json.dumps(body)),
        attributes=[KeyValue(key="acme.kind", value=AnyValue(string_value="message"))],
    )


def test_mapping_comes_before_the_built_in_readers_and_leaves_other_spans_to_them() -> None:
    with recorded() as (tracer, spans):
        with tracer.start_as_current_span("acme.chat") as span:
            # An app that copies a summary into the GenAI attribute: the mapping knows better.
            parts = [{"role": "user", "parts": [{"type": "text", "content": "(summary)"}]}]
            span.set_attribute("gen_ai.input.messages", json.dumps(parts))
            span.set_attribute("acme.request.messages", json.dumps(HISTORY))
            span.set_attribute("acme.response.message", json.dumps({"content": ANSWER}))
    with recorded("other-lib") as (tracer, more):
        with tracer.start_as_current_span("chat") as span:
            parts = [{"role": "user", "parts": [{"type": "text", "content": "Thanks!"}]}]
            span.set_attribute("gen_ai.input.messages", json.dumps(parts))
    found = transcript(spans + more, [ACME])
    assert [t.content for t in found.turns] == [QUESTION, ANSWER, "Thanks!"]
    assert transcript(spans).turns[0].content == "(summary)"  # without the mapping, the GenAI reader's


def test_a_matched_span_the_mapping_finds_nothing_in_goes_on_to_the_built_ins() -> None:
    with recorded() as (tracer, spans):
        with tracer.start_as_current_span("chat") as span:
            parts = [{"role": "user", "parts": [{"type": "text", "content": QUESTION}]}]
            span.set_attribute("gen_ai.input.messages", json.dumps(parts))
    assert transcript(spans, [ACME]).to_dicts() == [{"role": "user", "content": QUESTION}]


def test_tool_runs_without_ids_are_paired_by_arguments() -> None:
    """A tool called twice in one reply, its runs recorded in the other order and with no ids."""
    calls = [
        {"type": "function", "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}
        for city in ("Lisbon", "Porto")
    ]
    with recorded() as (tracer, spans):
        with tracer.start_as_current_span("acme.chat") as span:
            span.set_attribute("acme.request.messages", json.dumps(HISTORY))
            span.set_attribute("acme.response.message", json.dumps({"tool_calls": calls}))
        for city, weather in (("Porto", "rain"), ("Lisbon", "sun")):
            with tracer.start_as_current_span("acme.tool") as span:
                span.set_attribute("acme.tool.name", "get_weather")
                span.set_attribute("acme.tool.args", json.dumps({"city": city}))
                span.set_attribute("acme.tool.output", weather)
    mapping = {**ACME, "tool": {"name": "acme.tool.name", "arguments": "acme.tool.args", "result": "acme.tool.output"}}
    found = transcript(spans, [mapping])
    assert [t.content for t in found.turns if t.role == "tool"] == ["sun", "rain"]
    # Without the arguments the runs are taken in the order they ran.
    assert [t.content for t in transcript(spans, [ACME]).turns if t.role == "tool"] == ["rain", "sun"]


def test_no_mappings_reads_as_before() -> None:
    spans = acme_session()
    assert transcript(spans).to_dicts() == build_transcript(spans, (), TranscriptConfig()).to_dicts() == []
