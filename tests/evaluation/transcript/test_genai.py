"""The OTel GenAI reader: JSON message attributes (Pydantic AI's quirks), operation-details events and log
records, the older one-event-per-message mode, and how repeated histories that leave a message out merge."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from collector_eval.evaluation.transcript.builder import build_transcript, span_messages
from collector_eval.evaluation.transcript.messages import Event, SpanRecord
from collector_eval.evaluation.transcript.readers import genai, tool_run

TRACE = b"\x07" * 16


def _msg(role: str, *parts: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"role": role, "parts": list(parts), **extra}


def _text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def _span(start: int, attrs: dict[str, Any], name: str = "chat gpt-4o-mini") -> Span:
    span = Span(
        name=name,
        trace_id=TRACE,
        span_id=start.to_bytes(8, "big"),
        start_time_unix_nano=start,
        end_time_unix_nano=start + 1,
    )
    for key, value in attrs.items():
        kv = KeyValue(key=key)
        kv.value.string_value = value if isinstance(value, str) else json.dumps(value)
        span.attributes.append(kv)
    return span


def _chat(start: int, inputs: list[dict[str, Any]], output: dict[str, Any]) -> Span:
    return _span(
        start, {"gen_ai.operation.name": "chat", "gen_ai.input.messages": inputs, "gen_ai.output.messages": [output]}
    )


def _turns(span: SpanRecord) -> list[dict[str, Any]]:
    inputs, outputs = span_messages(span)
    return [t.to_dict() for t in inputs + outputs]


USER = _msg("user", _text("Weather in Lisbon?"))
CALL = _msg(
    "assistant", {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": '{"city": "Lisbon"}'}
)
ANSWER = _msg("assistant", _text("Sunny, 21 C."))


def test_pydantic_ai_string_arguments_and_result_under_role_user() -> None:
    # Format 5: the tool result is a `result` key, on a message of role user.
    result = _msg(
        "user", {"type": "tool_call_response", "id": "call_1", "name": "get_weather", "result": "21 C, sunny"}
    )
    span = SpanRecord(
        "chat gpt-4o-mini",
        "pydantic-ai",
        {
            "gen_ai.system_instructions": json.dumps([_text("Be brief.")]),
            "gen_ai.input.messages": json.dumps([USER, CALL, result]),
            "gen_ai.output.messages": json.dumps([ANSWER]),
        },
    )
    assert _turns(span) == [
        {"role": "user", "content": "Weather in Lisbon?"},
        {"role": "assistant", "content": "", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Lisbon"}}]},
        {"role": "tool", "content": "21 C, sunny"},
        {"role": "assistant", "content": "Sunny, 21 C."},
    ]


def test_invoke_agent_all_messages_is_not_a_model_call() -> None:
    # pydantic_ai.all_messages repeats the run; only the chat span's messages count.
    agent = _span(
        1,
        {
            "gen_ai.operation.name": "invoke_agent",
            "pydantic_ai.all_messages": [USER, _msg("assistant", _text("Other words."))],
        },
        "invoke_agent travel_agent",
    )
    chat = _chat(2, [USER], ANSWER)
    turns = build_transcript([ResourceSpans(scope_spans=[ScopeSpans(spans=[agent, chat])])]).to_dicts()
    assert [t["content"] for t in turns] == ["Weather in Lisbon?", "Sunny, 21 C."]


def test_operation_details_log_records_with_structured_values() -> None:
    expected = [{"role": "user", "content": "Weather in Lisbon?"}, {"role": "assistant", "content": "Sunny, 21 C."}]
    # OpenLIT: structured values in the record's attributes, an empty body
    details = [Event(genai.DETAILS, {"gen_ai.input.messages": [USER], "gen_ai.output.messages": [ANSWER]}, "")]
    span = SpanRecord("chat gpt-4o-mini", "openlit", {"gen_ai.operation.name": "chat"}, logs=details)
    assert _turns(span) == expected
    # or in a structured body
    details = [Event(genai.DETAILS, {}, {"gen_ai.input.messages": [USER], "gen_ai.output.messages": [ANSWER]})]
    span = SpanRecord("chat gpt-4o-mini", "openlit", {"gen_ai.operation.name": "chat"}, logs=details)
    assert _turns(span) == expected


def test_attributes_win_over_log_records_that_repeat_them() -> None:
    repeat = [Event(genai.DETAILS, {}, {"gen_ai.input.messages": [_msg("user", _text("Stale"))]})]
    span = SpanRecord("chat", "openlit", {"gen_ai.input.messages": json.dumps([USER])}, logs=repeat)
    assert _turns(span) == [{"role": "user", "content": "Weather in Lisbon?"}]


def test_older_event_mode_log_records() -> None:
    logs = [
        Event("gen_ai.system.message", {}, {"content": "Be brief."}, 1),
        Event("gen_ai.user.message", {}, {"content": "Weather in Lisbon?"}, 2),
        Event(
            "gen_ai.assistant.message",
            {},
            {
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Lisbon"}'},
                    }
                ]
            },
            3,
        ),
        # a JSON string body, as some SDKs write it
        Event("gen_ai.tool.message", {}, json.dumps({"content": '{"temp": 21}', "id": "call_1"}), 4),
        Event("gen_ai.choice", {}, {"index": 1, "message": {"role": "assistant", "content": "Alternative."}}, 6),
        Event(
            "gen_ai.choice",
            {},
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Sunny, 21 C."}},
            5,
        ),
    ]
    span = SpanRecord("chat gpt-4o-mini", "opentelemetry.instrumentation.openai_v2", {}, logs=logs)
    inputs, outputs = genai.messages(span)
    assert inputs[3].answers == "call_1"
    assert _turns(span) == [
        {"role": "user", "content": "Weather in Lisbon?"},
        {"role": "assistant", "content": "", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Lisbon"}}]},
        {"role": "tool", "content": '{"temp": 21}'},
        {"role": "assistant", "content": "Sunny, 21 C."},
    ]


def test_log_records_end_to_end_with_event_name_attribute() -> None:
    # The event name only in the `event.name` attribute, the body a JSON string; tied by trace+span id.
    chat = _span(10, {"gen_ai.operation.name": "chat"})

    def log(name: str, body: dict[str, Any], time: int) -> LogRecord:
        record = LogRecord(trace_id=TRACE, span_id=chat.span_id, time_unix_nano=time)
        record.attributes.append(KeyValue(key="event.name"))
        record.attributes[-1].value.string_value = name
        record.body.string_value = json.dumps(body)
        return record

    logs = ResourceLogs(
        scope_logs=[
            ScopeLogs(
                log_records=[
                    log("gen_ai.user.message", {"content": "Hi"}, 11),
                    log("gen_ai.choice", {"index": 0, "message": {"content": "Hello!"}}, 12),
                ]
            )
        ]
    )
    transcript = build_transcript([ResourceSpans(scope_spans=[ScopeSpans(spans=[chat])])], [logs])
    assert transcript.to_dicts() == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]


def test_span_without_content_is_not_read() -> None:
    span = SpanRecord("chat gpt-4o-mini", "x", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"})
    assert genai.messages(span) is None


def test_chat_span_naming_its_tool_calls_is_no_tool_run() -> None:
    # OpenLIT writes the called tools, comma-joined, on the chat span itself.
    chat = SpanRecord(
        "chat gpt-4o-mini",
        "openlit",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.tool.name": "get_weather, get_time",
            "gen_ai.tool.call.id": "call_1, call_2",
        },
    )
    assert tool_run(chat) is None
    tool = SpanRecord(
        "execute_tool get_weather",
        "x",
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.id": "c",
            "gen_ai.tool.call.result": "sunny",
        },
    )
    assert tool_run(tool) is not None and tool_run(tool).result == "sunny"


def test_later_history_without_the_tool_call_message_is_not_repeated() -> None:
    # A later input drops the assistant's tool-call message: the history it repeats must not be added again.
    result = _msg("tool", {"type": "tool_call_response", "id": "call_1", "response": "21 C"})
    thanks = _msg("user", _text("Thanks!"))
    spans = [
        _chat(1, [USER], CALL),
        _chat(2, [USER, result], ANSWER),
        _chat(3, [USER, result, ANSWER, thanks], _msg("assistant", _text("Any time."))),
    ]
    turns = build_transcript([ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]).to_dicts()
    assert [t["role"] for t in turns] == ["user", "assistant", "tool", "assistant", "user", "assistant"]
    assert turns[1]["tool_calls"] == [{"name": "get_weather", "arguments": {"city": "Lisbon"}}]
    assert [t["content"] for t in turns[2:]] == ["21 C", "Sunny, 21 C.", "Thanks!", "Any time."]
