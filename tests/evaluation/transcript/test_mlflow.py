"""The MLflow reader: JSON-encoded `mlflow.*` values, CHAT_MODEL request kwargs and ChatCompletion
outputs, TOOL spans, other span types claimed; GenAI-semconv exports left to the GenAI reader."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans

from collector_eval.evaluation.transcript.builder import build_transcript
from collector_eval.evaluation.transcript.messages import Call, Message, SpanRecord, ToolRun
from collector_eval.evaluation.transcript.readers import llm_messages, mlflow
from tests.support.judging import raw_span

SYSTEM = {"role": "system", "content": "Be brief."}
ASK = {"role": "user", "content": "Weather in Oslo?"}
CALLS = [{"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}]


def _attrs(kind: str, inputs: Any = None, outputs: Any = None) -> dict[str, Any]:
    # MLflow JSON-encodes every mlflow.* value, the span type included.
    return {
        "mlflow.spanType": json.dumps(kind),
        "mlflow.spanInputs": json.dumps(inputs),
        "mlflow.spanOutputs": json.dumps(outputs),
    }


def _completion(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
    }


def _span(kind: str, inputs: Any = None, outputs: Any = None, name: str = "span") -> SpanRecord:
    return SpanRecord(name, "mlflow.tracing.provider", _attrs(kind, inputs, outputs))


def test_other_spans_are_not_read_and_wrappers_are_claimed() -> None:
    # MLFLOW_ENABLE_OTEL_GENAI_SEMCONV drops the mlflow.* keys: the span is the GenAI reader's.
    genai = SpanRecord(
        "chat gpt-4o-mini",
        "mlflow.tracing.provider",
        {
            "mlflow.traceTag.session_id": "s1",
            "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]),
        },
    )
    assert mlflow.messages(genai) is None
    assert llm_messages(genai)[0] == [Message("user", "hi")]
    assert mlflow.messages(_span("AGENT", {"text": "hi"}, "hello")) == ([], [])
    assert mlflow.messages(_span("UNKNOWN", {}, None)) == ([], [])


def test_chat_model_request_and_completion() -> None:
    result = {"role": "tool", "tool_call_id": "call_1", "content": "3 °C"}
    inputs = {
        "model": "gpt-4o-mini",
        "messages": [SYSTEM, ASK, {"role": "assistant", "tool_calls": CALLS}, result],
        "tools": [],
    }
    reply = {"role": "assistant", "content": "It is 3 °C.", "refusal": None, "tool_calls": None}
    assert mlflow.messages(_span("CHAT_MODEL", inputs, _completion(reply))) == (
        [
            Message("system", "Be brief."),
            Message("user", "Weather in Oslo?"),
            Message("assistant", "", (Call("call_1", "weather", {"city": "Oslo"}),)),
            Message("tool", "3 °C", answers="call_1"),
        ],
        [Message("assistant", "It is 3 °C.")],
    )


def test_a_reply_that_is_a_message_or_text_and_a_cut_output() -> None:
    call = {"role": "assistant", "content": None, "tool_calls": CALLS}
    weather = Call("call_1", "weather", {"city": "Oslo"})
    assert mlflow.messages(_span("LLM", [ASK], call))[1] == [Message("assistant", "", (weather,))]
    assert mlflow.messages(_span("CHAT_MODEL", [ASK], "Sunny."))[1] == [Message("assistant", "Sunny.")]
    cut = SpanRecord(
        "Completions",
        "mlflow.tracing.provider",
        {**_attrs("CHAT_MODEL", {"messages": [ASK]}), "mlflow.spanOutputs": '{"id": "chatcmpl-1", "choi'},
    )
    assert mlflow.messages(cut) == ([Message("user", "Weather in Oslo?")], [])


def test_tool_output_is_decoded_once() -> None:
    assert mlflow.tool_run(_span("TOOL", {"city": "Oslo"}, "3 °C", "weather")) == ToolRun("weather", None, "3 °C")
    assert mlflow.tool_run(_span("TOOL", {}, {"t": 3}, "weather")).result == '{"t": 3}'
    assert mlflow.tool_run(_span("TOOL", {}, None, "weather")) == ToolRun("weather", None, None)
    assert mlflow.tool_run(_span("CHAT_MODEL", {}, "x")) == ToolRun("", None, None)


def test_a_session_without_the_last_tool_result_in_any_request() -> None:
    spans = [
        raw_span(1, _attrs("AGENT", {"text": "Weather in Oslo?"}, None), "chat_turn"),
        raw_span(
            2,
            _attrs(
                "CHAT_MODEL",
                {"messages": [SYSTEM, ASK]},
                _completion({"role": "assistant", "content": None, "tool_calls": CALLS}),
            ),
            "Completions",
        ),
        raw_span(3, _attrs("TOOL", {"city": "Oslo"}, "3 °C"), "weather"),
    ]
    transcript = build_transcript([ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])
    assert transcript.to_dicts() == [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}}]},
        {"role": "tool", "content": "3 °C"},
    ]
