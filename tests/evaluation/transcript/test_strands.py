"""The Strands Agents reader: Bedrock-style content blocks in span events (default conventions) or GenAI
JSON (latest), which spans are read, and tool runs."""

from __future__ import annotations

import json
from typing import Any

from collector_eval.evaluation.transcript.builder import span_messages
from collector_eval.evaluation.transcript.messages import Event, SpanRecord
from collector_eval.evaluation.transcript.readers import llm_messages, strands, tool_run

SCOPE = strands.SCOPE
ASK = [{"text": "Weather in Lisbon?"}]
USE = [{"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Lisbon"}}}]
RESULT = [
    {"toolResult": {"toolUseId": "call_1", "status": "success", "content": [{"text": "19 C"}, {"text": "sunny"}]}}
]
ANSWER = [{"text": "It's 19 C and sunny."}]

EXPECTED = [
    {"role": "user", "content": "Weather in Lisbon?"},
    {"role": "assistant", "content": "", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Lisbon"}}]},
    {"role": "tool", "content": "19 C\nsunny"},
    {"role": "assistant", "content": "It's 19 C and sunny."},
]


def _event(name: str, **attrs: Any) -> Event:
    return Event(name, {k: v if isinstance(v, str) else json.dumps(v) for k, v in attrs.items()})


def _turns(span: SpanRecord) -> list[dict[str, Any]]:
    inputs, outputs = span_messages(span)
    return [t.to_dict() for t in inputs + outputs]


def test_default_chat_span_events() -> None:
    span = SpanRecord(
        "chat",
        SCOPE,
        {"gen_ai.operation.name": "chat"},
        events=[
            _event("gen_ai.system.message", content=[{"text": "Be brief."}]),
            _event("gen_ai.user.message", content=ASK),
            _event("gen_ai.assistant.message", content=USE),
            _event("gen_ai.tool.message", content=RESULT),  # in a history: the result, as a user message
            _event("gen_ai.choice", finish_reason="end_turn", message=ANSWER),
        ],
    )
    assert _turns(span) == EXPECTED
    assert llm_messages(span)[0][3].answers == "call_1"  # [0] is the system prompt


def test_wrapper_spans_are_claimed_empty() -> None:
    # invoke_agent holds only the current turn (its answer with a trailing newline); cycles repeat chat.
    agent = SpanRecord(
        "invoke_agent Strands Agents",
        SCOPE,
        {"gen_ai.operation.name": "invoke_agent"},
        events=[_event("gen_ai.user.message", content=ASK), _event("gen_ai.choice", message="It's 19 C and sunny.\n")],
    )
    cycle = SpanRecord(
        "execute_event_loop_cycle",
        SCOPE,
        {"gen_ai.operation.name": "execute_event_loop_cycle", "gen_ai.input.messages": "[]"},
    )
    assert strands.messages(agent) == ([], []) and strands.messages(cycle) == ([], [])


def test_default_tool_span_message_event_is_the_arguments() -> None:
    span = SpanRecord(
        "execute_tool get_weather",
        SCOPE,
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather", "gen_ai.tool.call.id": "call_1"},
        events=[
            _event("gen_ai.tool.message", role="tool", content={"city": "Lisbon"}, id="call_1"),
            _event("gen_ai.choice", message=[{"text": "19 C"}], id="call_1"),
        ],
    )
    assert llm_messages(span) == ([], [])
    run = tool_run(span)
    assert run is not None and (run.name, run.id, run.result) == ("get_weather", "call_1", "19 C")


def _latest(role: str, *parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": role, "parts": list(parts)}


LATEST_INPUT = [
    _latest("user", {"type": "text", "content": "Weather in Lisbon?"}),
    _latest("assistant", {"type": "tool_call", "name": "get_weather", "id": "call_1", "arguments": {"city": "Lisbon"}}),
    # the toolResult content LIST as the response, under role user
    _latest("user", {"type": "tool_call_response", "id": "call_1", "response": [{"text": "19 C"}, {"text": "sunny"}]}),
]
LATEST_OUTPUT = [_latest("assistant", {"type": "text", "content": "It's 19 C and sunny."})]


def test_latest_operation_details_events() -> None:
    details = "gen_ai.client.inference.operation.details"
    span = SpanRecord(
        "chat",
        SCOPE,
        {"gen_ai.operation.name": "chat"},
        events=[
            _event(details, **{"gen_ai.system_instructions": [{"type": "text", "content": "Be brief."}]}),
            _event(details, **{"gen_ai.input.messages": LATEST_INPUT}),
            _event(details, **{"gen_ai.output.messages": LATEST_OUTPUT}),
        ],
    )
    assert _turns(span) == EXPECTED


def test_latest_attributes_recognised_without_scope() -> None:
    # Spans exported without their scope: the provider name Strands writes on each span tells them.
    attrs = {"gen_ai.provider.name": "strands-agents"}
    chat = SpanRecord(
        "chat",
        "",
        {
            **attrs,
            "gen_ai.operation.name": "chat",
            "gen_ai.input.messages": json.dumps(LATEST_INPUT),
            "gen_ai.output.messages": json.dumps(LATEST_OUTPUT),
        },
    )
    assert _turns(chat) == EXPECTED
    # attributes-only mode: the cycle's input is overwritten by its tool result alone; it is not read
    cycle = SpanRecord(
        "execute_event_loop_cycle",
        "",
        {
            **attrs,
            "gen_ai.operation.name": "execute_event_loop_cycle",
            "gen_ai.input.messages": json.dumps(LATEST_INPUT[2:]),
        },
    )
    assert llm_messages(cycle) == ([], [])


def test_latest_tool_span_result_is_the_text_of_its_blocks() -> None:
    span = SpanRecord(
        "execute_tool get_weather",
        SCOPE,
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.id": "call_1",
            "gen_ai.tool.call.arguments": '{"city": "Lisbon"}',
            "gen_ai.tool.call.result": json.dumps([{"text": "19 C"}, {"json": {"wind": "NW"}}]),
            "gen_ai.input.messages": json.dumps([_latest("tool", LATEST_INPUT[1]["parts"][0])]),
        },
    )
    assert llm_messages(span) == ([], [])
    run = tool_run(span)
    assert run is not None and run.result == '19 C\n{"wind": "NW"}'


def test_other_scopes_are_not_strands() -> None:
    assert strands.messages(SpanRecord("chat", "pydantic-ai", {"gen_ai.operation.name": "chat"})) is None
