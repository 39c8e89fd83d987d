"""The Langfuse v3 reader: generation observations in the OpenAI chat format, plain-string outputs,
tool observations, wrapper observations claimed."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans

from collector_eval.evaluation.transcript.builder import build_transcript
from collector_eval.evaluation.transcript.messages import Call, Message, SpanRecord, ToolRun
from collector_eval.evaluation.transcript.readers import langfuse
from tests.support.judging import raw_span

ASK = {"role": "user", "content": "Weather in Oslo?"}
CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}
    ],
}


def _observation(kind: str, name: str = "obs", **attrs: Any) -> SpanRecord:
    return SpanRecord(name, "langfuse-sdk", {"langfuse.observation.type": kind, **attrs})


def _generation(request: Any, output: str | None) -> SpanRecord:
    attrs = {"langfuse.observation.input": json.dumps(request)}
    if output is not None:
        attrs["langfuse.observation.output"] = output
    return _observation("generation", "OpenAI-generation", **attrs)


def test_other_spans_are_not_read_and_wrappers_are_claimed() -> None:
    assert langfuse.messages(SpanRecord("chat", "x", {"input.value": "hi"})) is None
    turn = _observation(
        "span",
        **{"langfuse.observation.input": '{"args": ["hi"], "kwargs": {}}', "langfuse.observation.output": "hello"},
    )
    assert langfuse.messages(turn) == ([], [])
    assert langfuse.messages(_observation("tool", "weather", **{"langfuse.observation.output": "sunny"})) == ([], [])


def test_input_with_tools_or_alone_and_a_json_output_message() -> None:
    result = {"role": "tool", "tool_call_id": "call_1", "content": "3 °C"}
    expected = [
        Message("user", "Weather in Oslo?"),
        Message("assistant", "", (Call("call_1", "weather", {"city": "Oslo"}),)),
        Message("tool", "3 °C", answers="call_1"),
    ]
    output = json.dumps({"role": "assistant", "content": "It is 3 °C."})
    with_tools = langfuse.messages(_generation({"tools": [], "messages": [ASK, CALL, result]}, output))
    alone = langfuse.messages(_generation([ASK, CALL, result], output))
    assert with_tools == alone == (expected, [Message("assistant", "It is 3 °C.")])


def test_a_str_output_is_the_reply_text_even_when_it_parses_as_json() -> None:
    assert langfuse.messages(_generation([ASK], "It is 3 °C."))[1] == [Message("assistant", "It is 3 °C.")]
    assert langfuse.messages(_generation([ASK], "42"))[1] == [Message("assistant", "42")]
    assert langfuse.messages(_generation([ASK], None))[1] == []


def test_several_choices_give_the_first() -> None:
    output = json.dumps([{"role": "assistant", "content": "one"}, {"role": "assistant", "content": "two"}])
    assert langfuse.messages(_generation([ASK], output))[1] == [Message("assistant", "one")]


def test_chat_messages_content_parts_refusal_and_legacy_function_call() -> None:
    parts = {
        "role": "user",
        "content": [
            {"type": "text", "text": "Look:"},
            {"type": "image_url", "image_url": {}},
            {"type": "text", "text": "a map"},
        ],
    }
    refusal = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    legacy = {"role": "assistant", "function_call": {"name": "weather", "arguments": '{"city": "Oslo"}'}}
    assert langfuse.chat_messages([parts, refusal, legacy, {"content": "no role"}, "junk"]) == [
        Message("user", "Look:\na map"),
        Message("assistant", "I can't help with that."),
        Message("assistant", "", (Call(None, "weather", {"city": "Oslo"}),)),
    ]
    assert langfuse.chat_messages({"args": ["hi"], "kwargs": {}}) == []


def test_tool_observation_is_a_run_named_after_the_tool() -> None:
    run = langfuse.tool_run(_observation("tool", "weather", **{"langfuse.observation.output": "sunny"}))
    assert run == ToolRun("weather", None, "sunny")
    assert langfuse.tool_run(_observation("generation")) == ToolRun("", None, None)


def test_a_tool_result_no_generation_showed_comes_from_the_tool_observation() -> None:
    spans = [
        raw_span(1, {"langfuse.observation.type": "span", "langfuse.observation.output": "x"}, "chat_turn"),
        raw_span(
            2,
            {
                "langfuse.observation.type": "generation",
                "langfuse.observation.input": {"messages": [ASK]},
                "langfuse.observation.output": CALL,
            },
            "OpenAI-generation",
        ),
        raw_span(3, {"langfuse.observation.type": "tool", "langfuse.observation.output": "3 °C"}, "weather"),
    ]
    transcript = build_transcript([ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])
    assert transcript.to_dicts() == [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}}]},
        {"role": "tool", "content": "3 °C"},
    ]
