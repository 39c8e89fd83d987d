"""The Vercel AI SDK reader: provider-level prompts in `ai.prompt.messages`, replies in
`ai.response.*`, tool runs in `ai.toolCall` spans, wrapper spans claimed."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans

from collector_eval.evaluation.transcript.builder import build_transcript
from collector_eval.evaluation.transcript.messages import Call, Message, SpanRecord, ToolRun
from collector_eval.evaluation.transcript.readers import vercel
from tests.support.judging import raw_span

CALL = {"type": "tool-call", "toolCallId": "call_1", "toolName": "weather", "input": {"city": "Oslo"}}


def _record(operation: str, **attrs: Any) -> SpanRecord:
    return SpanRecord(operation, "ai", {"ai.operationId": operation, **attrs})


def _generate(prompt: list[dict[str, Any]], **reply: Any) -> SpanRecord:
    return _record("ai.generateText.doGenerate", **{"ai.prompt.messages": json.dumps(prompt), **reply})


def _result(output: dict[str, Any]) -> dict[str, Any]:
    part = {"type": "tool-result", "toolCallId": "call_1", "toolName": "weather", "output": output}
    return {"role": "tool", "content": [part]}


def test_other_spans_are_not_read_and_wrappers_are_claimed() -> None:
    assert vercel.messages(SpanRecord("chat", "openai", {"gen_ai.input.messages": "[]"})) is None
    root = _record(
        "ai.generateText",
        **{"ai.prompt": '{"messages": [{"role": "user", "content": "hi"}]}', "ai.response.text": "hello"},
    )
    assert vercel.messages(root) == ([], [])
    assert vercel.messages(_record("ai.toolCall", **{"ai.toolCall.name": "weather"})) == ([], [])


def test_prompt_parts_and_reply() -> None:
    prompt = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Weather "}, {"type": "text", "text": "in Oslo?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Checking."}, CALL]},
        _result({"type": "text", "value": "3 °C"}),
    ]
    calls = '[{"toolCallId": "call_2", "toolName": "weather", "input": "{\\"city\\": \\"Bergen\\"}"}]'
    inputs, outputs = vercel.messages(_generate(prompt, **{"ai.response.text": "", "ai.response.toolCalls": calls}))
    assert inputs == [
        Message("system", "Be brief."),
        Message("user", "Weather in Oslo?"),  # text parts are joined as the SDK joins them
        Message("assistant", "Checking.", (Call("call_1", "weather", {"city": "Oslo"}),)),
        Message("tool", "3 °C", answers="call_1"),
    ]
    # The model's argument text (with spaces) is parsed: the same call as the compact history form.
    assert outputs == [Message("assistant", "", (Call("call_2", "weather", {"city": "Bergen"}),))]


def test_tool_results_are_the_text_the_provider_sent() -> None:
    def content(output: dict[str, Any]) -> str:
        return vercel.messages(_generate([_result(output)]))[0][0].content

    assert content({"type": "text", "value": "sunny"}) == "sunny"
    assert content({"type": "error-text", "value": "no such city"}) == "no such city"
    # JSON.stringify: compact, non-ASCII kept as it is.
    assert (
        content({"type": "json", "value": {"temp": 3, "sky": "clear", "unit": "°C"}})
        == '{"temp":3,"sky":"clear","unit":"°C"}'
    )
    assert content({"type": "execution-denied", "reason": "not allowed"}) == "not allowed"


def test_several_results_in_one_tool_message_answer_their_calls() -> None:
    second = {
        "type": "tool-result",
        "toolCallId": "call_2",
        "toolName": "weather",
        "output": {"type": "text", "value": "rain"},
    }
    message = _result({"type": "text", "value": "sun"})
    message["content"].append(second)
    inputs, _ = vercel.messages(_generate([message]))
    assert [(m.content, m.answers) for m in inputs] == [("sun", "call_1"), ("rain", "call_2")]


def test_tool_run_unquotes_a_string_result_only() -> None:
    run = vercel.tool_run(
        _record(
            "ai.toolCall", **{"ai.toolCall.name": "weather", "ai.toolCall.id": "call_1", "ai.toolCall.result": '"3 °C"'}
        )
    )
    assert run == ToolRun("weather", "call_1", "3 °C")
    run = vercel.tool_run(_record("ai.toolCall", **{"ai.toolCall.name": "weather", "ai.toolCall.result": '{"t":3}'}))
    assert run.result == '{"t":3}'
    assert vercel.tool_run(_record("ai.generateText")) == ToolRun("", None, None)


def test_a_last_step_that_calls_a_tool_gets_its_result_from_the_tool_span() -> None:
    spans = [
        raw_span(1, {"ai.operationId": "ai.generateText", "ai.response.toolCalls": "[]"}, "ai.generateText"),
        raw_span(
            2,
            {
                "ai.operationId": "ai.generateText.doGenerate",
                "ai.prompt.messages": [{"role": "user", "content": [{"type": "text", "text": "Oslo?"}]}],
                "ai.response.toolCalls": [{**CALL, "input": '{"city": "Oslo"}'}],
            },
            "ai.generateText.doGenerate",
        ),
        raw_span(
            3,
            {
                "ai.operationId": "ai.toolCall",
                "ai.toolCall.name": "weather",
                "ai.toolCall.id": "call_1",
                "ai.toolCall.result": '"3 °C"',
            },
            "ai.toolCall",
        ),
    ]
    transcript = build_transcript([ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])
    assert transcript.to_dicts() == [
        {"role": "user", "content": "Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}}]},
        {"role": "tool", "content": "3 °C"},
    ]
