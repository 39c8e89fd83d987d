"""The smolagents reader: smolagents' memory (roles tool-call / tool-response, 'New task:', the Python
repr of its calls) and its final_answer tool, as recorded by openinference-instrumentation-smolagents."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from collector_eval.evaluation.transcript.builder import build_transcript
from collector_eval.evaluation.transcript.messages import Call, Message, SpanRecord
from collector_eval.evaluation.transcript.readers import llm_messages, smolagents
from tests.support.judging import raw_span

SCOPE = smolagents.SCOPE
SYSTEM = ("system", "You are an expert assistant who can solve any task using tool calls.")


def _calls(*calls: tuple[str, str, Any]) -> str:
    """What smolagents writes: str() of its ToolCall dicts, a Python repr (single quotes), not JSON."""
    return "Calling tools:\n" + str(
        [{"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls]
    )


def _llm_attrs(
    history: list[tuple[str, str]],
    calls: list[tuple[str, str, Any]] = (),
    text: str | None = None,
) -> dict[str, Any]:
    """An LLM span's attributes: the memory as input (text only in message_content.text), a reply."""
    attrs: dict[str, Any] = {"openinference.span.kind": "LLM"}
    for i, (role, content) in enumerate(history):
        attrs[f"llm.input_messages.{i}.message.role"] = role
        attrs[f"llm.input_messages.{i}.message.contents.0.message_content.type"] = "text"
        attrs[f"llm.input_messages.{i}.message.contents.0.message_content.text"] = content
    attrs["llm.output_messages.0.message.role"] = "assistant"
    if text is not None:
        attrs["llm.output_messages.0.message.content"] = text
    for j, (call_id, name, arguments) in enumerate(calls):
        base = f"llm.output_messages.0.message.tool_calls.{j}.tool_call"
        attrs[f"{base}.id"] = call_id
        attrs[f"{base}.function.name"] = name
        attrs[f"{base}.function.arguments"] = json.dumps(arguments)
    return attrs


def _llm(
    history: list[tuple[str, str]], calls: list[tuple[str, str, Any]] = (), text: str | None = None, scope: str = SCOPE
) -> SpanRecord:
    return SpanRecord("OpenAIModel.generate", scope, _llm_attrs(history, calls, text))


def _tool(start: int, name: str, result: str) -> Span:
    return raw_span(start, {"openinference.span.kind": "TOOL", "tool.name": name, "output.value": result}, "SimpleTool")


def _build(*spans: Span) -> list[dict[str, Any]]:
    scoped = ResourceSpans(scope_spans=[ScopeSpans(scope=InstrumentationScope(name=SCOPE), spans=list(spans))])
    return build_transcript([scoped]).to_dicts()


ASK = ("user", "New task:\nWhat's the weather in Kyoto?")
WEATHER_CALL = ("call_1", "get_weather", {"city": "Kyoto"})
ANSWER = "Light rain in Kyoto: take an umbrella."


def test_memory_roles_and_prefixes() -> None:
    inputs, outputs = smolagents.messages(
        _llm(
            [SYSTEM, ASK, ("tool-call", _calls(WEATHER_CALL)), ("tool-response", "Observation:\nKyoto: 14 C, rain")],
            [("call_2", "final_answer", {"answer": ANSWER})],
        )
    )
    assert inputs == [
        Message(*SYSTEM),
        Message("user", "What's the weather in Kyoto?"),
        Message("assistant", "", (Call("call_1", "get_weather", {"city": "Kyoto"}),)),
        Message("tool", "Kyoto: 14 C, rain", answers="call_1"),
    ]
    assert outputs == [Message("assistant", ANSWER)]  # the final_answer call is the reply, as text


def test_final_answer_and_its_echo_in_a_later_history() -> None:
    inputs, _ = smolagents.messages(
        _llm(
            [
                ASK,
                ("tool-call", _calls(("call_2", "final_answer", {"answer": ANSWER}))),
                ("tool-response", f"Observation:\n{ANSWER}"),
                ("user", "New task:\nThanks!"),
            ],
            [],
            text="You're welcome.",
        )
    )
    assert [(m.role, m.content, m.calls) for m in inputs] == [
        ("user", "What's the weather in Kyoto?", ()),
        ("assistant", ANSWER, ()),
        ("user", "Thanks!", ()),
    ]


def test_calls_are_a_literal_never_code() -> None:
    # A repr that is not a plain literal is not run: it stays the text the model was shown.
    hostile = "Calling tools:\n[__import__('os').getpid()]"
    inputs, _ = smolagents.messages(_llm([ASK, ("tool-call", hostile)], [WEATHER_CALL]))
    assert inputs[-1] == Message("assistant", hostile)


def test_reply_with_text_and_calls_matches_the_memory_it_becomes() -> None:
    # smolagents keeps the model's text (model_output) and its calls as two messages; the builder folds
    # them back into one, so the reply read from the output must give the same pair.
    _, outputs = smolagents.messages(_llm([ASK], [WEATHER_CALL, ("call_3", "final_answer", "Rain.")], text="Checking."))
    assert outputs == [
        Message("assistant", "Checking."),
        Message("assistant", "", (Call("call_1", "get_weather", {"city": "Kyoto"}),)),
        Message("assistant", "Rain."),
    ]  # an answer passed as the whole argument


def test_errors_answer_their_call_or_go_to_the_model_as_user_text() -> None:
    inputs, _ = smolagents.messages(
        _llm(
            [
                ASK,
                ("tool-call", _calls(WEATHER_CALL)),
                ("tool-response", "Call id: call_1\nError:\nno such city"),
                ("tool-response", "Error:\nError while parsing tool call from model output"),
            ],
            [WEATHER_CALL],
        )
    )
    assert inputs[-2:] == [
        Message("tool", "Error:\nno such city", answers="call_1"),
        Message("user", "Error:\nError while parsing tool call from model output"),
    ]


def test_code_agent_code_is_not_a_model_call() -> None:
    action = "print(get_weather('Kyoto'))"
    code = f"Thought: look it up.\n<code>\n{action}\n</code>"
    inputs, _ = smolagents.messages(
        _llm(
            [
                ASK,
                ("assistant", code),
                ("tool-call", _calls(("call_1", "python_interpreter", action))),
                ("tool-response", "Observation:\nExecution logs:\nrain"),
            ],
            text="done",
        )
    )
    assert [(m.role, m.content, m.calls) for m in inputs[1:]] == [
        ("assistant", code, ()),
        ("user", "Observation:\nExecution logs:\nrain", ()),
    ]


def test_recognised_by_scope_or_own_marks_and_wrappers_claimed() -> None:
    plain = [("user", "hi")]
    assert smolagents.messages(_llm(plain, text="hello", scope="openinference.instrumentation.openai")) is None
    assert smolagents.messages(_llm([ASK, ("tool-call", _calls(WEATHER_CALL))], scope=""))[0][-1].calls
    repr_only = SpanRecord(
        "OpenAIModel.generate",
        "",
        {
            **_llm_attrs([ASK], [("call_2", "final_answer", {"answer": ANSWER})]),
            "input.value": json.dumps({"messages": ["ChatMessage(role=<MessageRole.USER: 'user'>, content=[])"]}),
        },
    )
    assert llm_messages(repr_only)[1] == [Message("assistant", ANSWER)]
    agent = SpanRecord(
        "travel_agent.run", "", {"openinference.span.kind": "AGENT", "smolagents.max_steps": 5, "output.value": ANSWER}
    )
    step = SpanRecord("Step 1", SCOPE, {"openinference.span.kind": "CHAIN", "output.value": ANSWER})
    assert smolagents.messages(agent) == smolagents.messages(step) == ([], [])


def test_runs_merge_into_one_conversation() -> None:
    first = [SYSTEM, ASK]
    second = [
        *first,
        ("tool-call", _calls(("call_2", "final_answer", {"answer": ANSWER}))),
        ("tool-response", f"Observation:\n{ANSWER}"),
        ("user", "New task:\nAnd Osaka?"),
    ]
    turns = _build(
        raw_span(10, _llm_attrs(first, [("call_2", "final_answer", {"answer": ANSWER})]), "OpenAIModel.generate"),
        raw_span(20, _llm_attrs(second, [("call_3", "final_answer", {"answer": "Sunny."})]), "OpenAIModel.generate"),
    )
    assert turns == [
        {"role": "user", "content": "What's the weather in Kyoto?"},
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": "And Osaka?"},
        {"role": "assistant", "content": "Sunny."},
    ]


def test_parallel_calls_take_their_results_from_tool_spans() -> None:
    # One observation joins the results of parallel calls; each call's result comes from its TOOL span.
    calls = [WEATHER_CALL, ("call_2", "get_time", {"city": "Kyoto"})]
    history = [ASK, ("tool-call", _calls(*calls)), ("tool-response", "Observation:\nrain\n09:00")]
    turns = _build(
        raw_span(10, _llm_attrs([ASK], calls), "OpenAIModel.generate"),
        _tool(11, "get_time", "09:00"),
        _tool(12, "get_weather", "rain"),
        raw_span(
            20, _llm_attrs(history, [("call_3", "final_answer", {"answer": "Rain, 9am."})]), "OpenAIModel.generate"
        ),
    )
    assert turns[1:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"name": "get_weather", "arguments": {"city": "Kyoto"}},
                {"name": "get_time", "arguments": {"city": "Kyoto"}},
            ],
        },
        {"role": "tool", "content": "rain"},
        {"role": "tool", "content": "09:00"},
        {"role": "assistant", "content": "Rain, 9am."},
    ]
