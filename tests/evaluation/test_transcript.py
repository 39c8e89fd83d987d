from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from collector_eval.evaluation.tokens import count_tokens
from collector_eval.evaluation.transcript.budget import elide
from collector_eval.evaluation.transcript.builder import build_transcript
from collector_eval.evaluation.transcript.model import Transcript, Turn
from collector_eval.otlp.json_format import load_otlp_json, load_otlp_logs_json
from tests.support.corpus import CORPUS

SESSIONS = sorted(p.parent for p in CORPUS.glob("*/otlp.json"))
NO_CONTENT = "otel_genai_v2_default_nocontent"


def _load(folder: Path) -> tuple[list[ResourceSpans], list[ResourceLogs], dict[str, Any]]:
    """A recorded session: its spans, its log records (where the library emits any), what was said."""
    request = load_otlp_json(folder / "otlp.json")
    logs_file = folder / "otlp_logs.json"
    logs = list(load_otlp_logs_json(logs_file).resource_logs) if logs_file.exists() else []
    return list(request.resource_spans), logs, json.loads((folder / "expected.json").read_text())


def _span(start: int, attrs: dict[str, Any], name: str = "span") -> Span:
    span = Span(
        name=name,
        trace_id=b"\x01" * 16,
        span_id=start.to_bytes(8, "big"),
        start_time_unix_nano=start,
        end_time_unix_nano=start + 1,
    )
    for key, value in attrs.items():
        kv = KeyValue(key=key)
        if isinstance(value, int):
            kv.value.int_value = value
        else:
            kv.value.string_value = value
        span.attributes.append(kv)
    return span


def _resource(*spans: Span) -> ResourceSpans:
    return ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])


def _oi_llm(start: int, messages: list[dict[str, Any]], output: dict[str, Any]) -> Span:
    """An OpenInference LLM span from chat-completions-style messages."""
    attrs: dict[str, Any] = {"openinference.span.kind": "LLM"}
    for prefix, msgs in (("llm.input_messages", messages), ("llm.output_messages", [output])):
        for i, msg in enumerate(msgs):
            base = f"{prefix}.{i}.message"
            attrs[f"{base}.role"] = msg["role"]
            if "content" in msg:
                attrs[f"{base}.content"] = msg["content"]
            if "tool_call_id" in msg:
                attrs[f"{base}.tool_call_id"] = msg["tool_call_id"]
            for j, call in enumerate(msg.get("tool_calls", [])):
                attrs[f"{base}.tool_calls.{j}.tool_call.id"] = call["id"]
                attrs[f"{base}.tool_calls.{j}.tool_call.function.name"] = call["name"]
                attrs[f"{base}.tool_calls.{j}.tool_call.function.arguments"] = call["arguments"]
    return _span(start, attrs, "ChatCompletion")


# -- the recorded corpus ----------------------------------------------------------------------


def test_corpus_has_every_library() -> None:
    assert {p.name for p in SESSIONS} >= {
        "openai_agents",
        "openinference_openai_chat",
        "openinference_openai_tools",
        NO_CONTENT,
        "otel_genai_v2_latest",
        "traceloop",
    }, f"corpus missing under {CORPUS}"


@pytest.mark.parametrize("folder", [p for p in SESSIONS if p.name != NO_CONTENT], ids=lambda p: p.name)
def test_corpus_session_gives_expected_turns(folder: Path) -> None:
    resource_spans, resource_logs, expected = _load(folder)
    transcript = build_transcript(resource_spans, resource_logs)
    assert transcript.to_dicts() == expected["turns"]
    assert transcript.has_content
    assert not transcript.truncated


@pytest.mark.parametrize("folder", SESSIONS, ids=lambda p: p.name)
def test_corpus_span_order_does_not_matter(folder: Path) -> None:
    resource_spans, resource_logs, _ = _load(folder)
    reference = build_transcript(resource_spans, resource_logs).to_dicts()
    spans = [s for rs in resource_spans for ss in rs.scope_spans for s in ss.spans]
    for seed in range(5):
        random.Random(seed).shuffle(spans)
        # one resource per span, as if every span came in its own export request
        assert build_transcript([_resource(s) for s in spans], resource_logs).to_dicts() == reference


def test_no_content_session_has_no_turns() -> None:
    resource_spans, _, expected = _load(CORPUS / NO_CONTENT)
    assert expected["turns"], "the corpus describes the conversation that took place"
    transcript = build_transcript(resource_spans)
    assert transcript.has_content is False
    assert transcript.turns == []
    assert transcript.render() == ""


def test_corpus_render_names_tools_and_calls() -> None:
    resource_spans, _, _ = _load(CORPUS / "openinference_openai_tools")
    text = build_transcript(resource_spans).render()
    assert text.startswith("[user]\nWhat's the weather in Paris right now?\n\n")
    assert (
        '[assistant] called get_weather({"city": "Tokyo"})\n[assistant] called get_weather({"city": "London"})' in text
    )
    assert '[tool get_weather]\n{"city": "London", "condition": "light rain", "temperature_c": 14}' in text
    assert "[tool convert_currency]" in text


def test_turn_to_dict_omits_empty_tool_calls() -> None:
    assert Turn("user", "hi", []).to_dict() == {"role": "user", "content": "hi"}
    call = {"name": "f", "arguments": {"x": 1}}
    assert Turn("assistant", "", [call]).to_dict() == {"role": "assistant", "content": "", "tool_calls": [call]}


# -- OpenLLMetry's older flattened attributes ---------------------------------------------------

SYSTEM = {"gen_ai.prompt.0.role": "system", "gen_ai.prompt.0.content": "You are a travel assistant."}
ASK = {"gen_ai.prompt.1.role": "user", "gen_ai.prompt.1.content": "What's the weather in Oslo?"}
CALL = {
    "gen_ai.prompt.2.role": "assistant",
    "gen_ai.prompt.2.tool_calls.0.id": "call_1",
    "gen_ai.prompt.2.tool_calls.0.name": "get_weather",
    "gen_ai.prompt.2.tool_calls.0.arguments": '{"city": "Oslo"}',
}
RESULT = {
    "gen_ai.prompt.3.role": "tool",
    "gen_ai.prompt.3.tool_call_id": "call_1",
    "gen_ai.prompt.3.content": '{"temperature_c": 3}',
}
ANSWER = {"gen_ai.prompt.4.role": "assistant", "gen_ai.prompt.4.content": "It's 3°C in Oslo."}
THANKS = {"gen_ai.prompt.5.role": "user", "gen_ai.prompt.5.content": "Thanks!"}

FLAT_EXPECTED = [
    {"role": "user", "content": "What's the weather in Oslo?"},
    {"role": "assistant", "content": "", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
    {"role": "tool", "content": '{"temperature_c": 3}'},
    {"role": "assistant", "content": "It's 3°C in Oslo."},
    {"role": "user", "content": "Thanks!"},
    {"role": "assistant", "content": "You're welcome!"},
]


def _flat_session() -> list[Span]:
    """Two traceloop workflow turns; the tool result the tool task returned differs from the one the
    model was shown, so the test can tell which one was used."""
    workflow = {"traceloop.span.kind": "workflow", "traceloop.entity.name": "chat_turn"}
    return [
        _span(
            10,
            {
                **workflow,
                "traceloop.entity.input": '{"args": ["What\'s the weather in Oslo?"], "kwargs": {}}',
                "traceloop.entity.output": '"It\'s 3°C in Oslo."',
            },
            "chat_turn.workflow",
        ),
        _span(
            11,
            {
                **SYSTEM,
                **ASK,
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.finish_reason": "tool_calls",
                "gen_ai.completion.0.tool_calls.0.id": "call_1",
                "gen_ai.completion.0.tool_calls.0.name": "get_weather",
                "gen_ai.completion.0.tool_calls.0.arguments": '{"city":"Oslo"}',
            },
            "openai.chat",
        ),
        _span(
            12,
            {
                "traceloop.span.kind": "tool",
                "traceloop.entity.name": "get_weather",
                "traceloop.entity.output": '{"temperature_c": 3.0, "source": "tool span"}',
            },
            "get_weather.tool",
        ),
        _span(
            13,
            {
                **SYSTEM,
                **ASK,
                **CALL,
                **RESULT,
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.finish_reason": "stop",
                "gen_ai.completion.0.content": "It's 3°C in Oslo.",
            },
            "openai.chat",
        ),
        _span(
            20,
            {
                **workflow,
                "traceloop.entity.input": '{"args": ["Thanks!"], "kwargs": {}}',
                "traceloop.entity.output": '"You\'re welcome!"',
            },
            "chat_turn.workflow",
        ),
        _span(
            21,
            {
                **SYSTEM,
                **ASK,
                **CALL,
                **RESULT,
                **ANSWER,
                **THANKS,
                # two choices: only the first continues the conversation
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.content": "You're welcome!",
                "gen_ai.completion.1.role": "assistant",
                "gen_ai.completion.1.content": "Any time!",
            },
            "openai.chat",
        ),
    ]


def test_flattened_gen_ai_prompt_and_completion() -> None:
    transcript = build_transcript([_resource(*_flat_session())])
    assert transcript.to_dicts() == FLAT_EXPECTED
    assert "[tool get_weather]" in transcript.render()


def test_flattened_span_order_does_not_matter() -> None:
    spans = _flat_session()
    random.Random(7).shuffle(spans)
    assert build_transcript([_resource(s) for s in spans]).to_dicts() == FLAT_EXPECTED


def test_tool_span_fills_a_result_no_llm_input_showed() -> None:
    # The session ends right after the tool ran: no later LLM call repeats the result.
    spans = _flat_session()[:3]
    assert build_transcript([_resource(*spans)]).to_dicts() == [
        FLAT_EXPECTED[0],
        FLAT_EXPECTED[1],
        {"role": "tool", "content": '{"temperature_c": 3.0, "source": "tool span"}'},
    ]


def test_flattened_multipart_content_and_refusal() -> None:
    span = _span(
        1,
        {
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": json.dumps(
                [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": "x"}}]
            ),
            "gen_ai.completion.0.refusal": "I can't help with that.",
        },
    )
    assert build_transcript([_resource(span)]).to_dicts() == [
        {"role": "user", "content": "What is this?"},
        {"role": "assistant", "content": "I can't help with that."},
    ]


# -- de-duplication and merging ---------------------------------------------------------------


def test_repeated_history_and_duplicate_spans_are_kept_once() -> None:
    u1, a1 = {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}
    u2, a2 = {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello again!"}
    first = _oi_llm(1, [{"role": "system", "content": "Be nice."}, u1], a1)
    duplicate = _oi_llm(1, [{"role": "system", "content": "Be nice."}, u1], a1)  # exported twice
    second = _oi_llm(5, [{"role": "system", "content": "Be nice."}, u1, a1, u2], a2)
    turns = build_transcript([_resource(second, duplicate), _resource(first)]).to_dicts()
    # the user really said "Hi" twice: repeats inside one history are not collapsed
    assert turns == [u1, a1, u2, a2]


def test_calls_without_history_are_concatenated() -> None:
    # An app that sends only the latest message: nothing is repeated, every call adds its turns.
    # Listed last-first: only the start times can put them in order.
    spans = [
        _oi_llm(2, [{"role": "user", "content": "Bye"}], {"role": "assistant", "content": "Bye!"}),
        _oi_llm(1, [{"role": "user", "content": "Hi"}], {"role": "assistant", "content": "Hello!"}),
    ]
    assert [t["content"] for t in build_transcript([_resource(*spans)]).to_dicts()] == ["Hi", "Hello!", "Bye", "Bye!"]


def test_sliding_window_history_is_aligned() -> None:
    msgs = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}"} for i in range(6)]
    spans = [
        _oi_llm(1, msgs[:3], msgs[3]),
        _oi_llm(2, msgs[2:5], msgs[5]),
    ]  # the app keeps only the last three messages
    assert [t["content"] for t in build_transcript([_resource(*spans)]).to_dicts()] == [f"m{i}" for i in range(6)]


def test_responses_style_function_call_items_form_one_turn() -> None:
    # The Responses API history lists each function call as its own assistant item, while the
    # output that produced them is one message with both calls.
    user = {"role": "user", "content": "Weather in Rome and Nice?"}
    calls = [
        {"id": "c1", "name": "get_weather", "arguments": '{"city": "Rome"}'},
        {"id": "c2", "name": "get_weather", "arguments": '{"city": "Nice"}'},
    ]
    results = [
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "c2", "content": "rain"},
    ]
    spans = [
        _oi_llm(1, [user], {"role": "assistant", "tool_calls": calls}),
        _oi_llm(
            2,
            [
                user,
                {"role": "assistant", "tool_calls": calls[:1]},
                {"role": "assistant", "tool_calls": calls[1:]},
                *results,
            ],
            {"role": "assistant", "content": "Rome is sunny, Nice has rain."},
        ),
    ]
    assert build_transcript([_resource(*spans)]).to_dicts() == [
        user,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"name": "get_weather", "arguments": {"city": "Rome"}},
                {"name": "get_weather", "arguments": {"city": "Nice"}},
            ],
        },
        {"role": "tool", "content": "sunny"},
        {"role": "tool", "content": "rain"},
        {"role": "assistant", "content": "Rome is sunny, Nice has rain."},
    ]


def test_repeated_tool_is_paired_with_its_own_execution() -> None:
    # get_weather runs twice; only the second result is missing from the LLM inputs, and it must come
    # from the second execution, not the first.
    def tool(start: int, result: str) -> Span:
        return _span(start, {"openinference.span.kind": "TOOL", "tool.name": "get_weather", "output.value": result})

    u1 = {"role": "user", "content": "Paris?"}
    call1 = {"role": "assistant", "tool_calls": [{"id": "", "name": "get_weather", "arguments": '{"city": "Paris"}'}]}
    spans = [
        _oi_llm(1, [u1], call1),
        tool(2, "paris: 18"),
        _oi_llm(3, [u1, call1, {"role": "tool", "content": "paris: 18"}], {"role": "assistant", "content": "18"}),
        _oi_llm(
            4,
            [
                u1,
                call1,
                {"role": "tool", "content": "paris: 18"},
                {"role": "assistant", "content": "18"},
                {"role": "user", "content": "Oslo?"},
            ],
            {"role": "assistant", "tool_calls": [{"id": "", "name": "get_weather", "arguments": '{"city": "Oslo"}'}]},
        ),
        tool(5, "oslo: 3"),
    ]
    turns = build_transcript([_resource(*spans)]).to_dicts()
    assert [t["content"] for t in turns if t["role"] == "tool"] == ["paris: 18", "oslo: 3"]


def test_genai_json_ignores_system_instructions_and_system_role() -> None:
    span = _span(
        1,
        {
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Secret rules."}]),
            "gen_ai.input.messages": json.dumps(
                [
                    {"role": "system", "parts": [{"type": "text", "content": "More rules."}]},
                    {"role": "user", "parts": [{"type": "text", "content": "Hi"}]},
                ]
            ),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "Hello"}], "finish_reason": "stop"}]
            ),
        },
    )
    transcript = build_transcript([_resource(span)])
    assert transcript.to_dicts() == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    assert "rules" not in transcript.render()


# -- elision ------------------------------------------------------------------------------------


def _long_transcript(n: int = 40) -> Transcript:
    return Transcript([Turn("user" if i % 2 == 0 else "assistant", f"turn {i} " + "x" * 100) for i in range(n)])


def test_elide_keeps_a_transcript_within_budget_unchanged() -> None:
    transcript = _long_transcript(4)
    out = elide(transcript, max_tokens=10_000)
    assert out.turns == transcript.turns
    assert not out.truncated and out.elided_turns == 0
    assert out.render() == transcript.render()


def test_elide_drops_the_middle_and_keeps_first_and_last() -> None:
    transcript = _long_transcript(40)
    budget = count_tokens(transcript.render()) // 3
    out = elide(transcript, max_tokens=budget)
    assert out.truncated
    assert out.turns[0] == transcript.turns[0] and out.turns[-1] == transcript.turns[-1]
    assert out.elided_turns == len(transcript.turns) - len(out.turns) > 0
    # what is kept is a head and a tail of the original, around one gap
    head = transcript.turns[: out.elided_at]
    assert out.turns == head + transcript.turns[out.elided_at + out.elided_turns :]
    assert abs(len(head) - (len(out.turns) - len(head))) <= 1  # the gap is in the middle
    assert count_tokens(out.render()) <= budget
    assert f"[… {out.elided_turns} turns elided …]" in out.render()
    assert len(transcript.turns) == 40  # the input is left alone


def test_elide_meets_every_budget_that_first_and_last_fit() -> None:
    transcript = _long_transcript(40)
    total = count_tokens(transcript.render())
    for budget in range(70, total + 10, 3):
        out = elide(transcript, max_tokens=budget)
        assert count_tokens(out.render()) <= budget, budget
        assert out.truncated == (budget < total)


def test_elide_keeps_first_and_last_even_over_budget() -> None:
    # Each turn fits a quarter of the budget, so none is shortened; only the ends fit in all.
    transcript = Transcript([Turn("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(5)])
    out = elide(transcript, max_tokens=16)
    assert [t.content for t in out.turns] == ["turn 0", "turn 4"]
    assert out.truncated and out.elided_turns == 3


def test_elide_shortens_a_huge_first_or_last_turn_too() -> None:
    pasted = "START " + "lorem ipsum " * 200_000 + " FINISH"
    transcript = Transcript(
        [Turn("user", pasted), Turn("assistant", "ok"), Turn("user", "and?"), Turn("assistant", pasted)]
    )
    out = elide(transcript, max_tokens=2000)
    assert count_tokens(out.render()) <= 2000
    assert out.turns[0].content.startswith("START") and out.turns[0].content.endswith("FINISH")
    assert out.turns[-1].content.startswith("START") and "chars elided" in out.turns[-1].content
    assert out.truncated


def test_elide_shortens_a_long_tool_output() -> None:
    output = "BEGIN " + " ".join(f"row{i}" for i in range(2000)) + " END"
    transcript = Transcript(
        [
            Turn("user", "go"),
            Turn("assistant", "", [{"name": "fetch", "arguments": {}}]),
            Turn("tool", output, name="fetch"),
            Turn("assistant", "done"),
        ]
    )
    out = elide(transcript, max_tokens=2000)
    shortened = out.turns[2].content
    match = re.search(r"…\[(\d+) chars elided\]", shortened)
    assert match is not None
    assert shortened.startswith("BEGIN") and shortened.endswith("END")
    assert len(shortened) - len(match.group(0)) == len(output) - int(match.group(1))
    assert count_tokens(shortened) <= 2000 / 4
    assert out.truncated and out.elided_turns == 0
    assert [t.content for t in out.turns if t.role != "tool"] == ["go", "", "done"]


def test_elide_leaves_short_tool_output_and_rejects_bad_budget() -> None:
    transcript = Transcript([Turn("tool", "small", name="f")])
    assert elide(transcript, max_tokens=100).turns[0].content == "small"
    with pytest.raises(ValueError):
        elide(transcript, max_tokens=0)


def test_has_content() -> None:
    assert not Transcript([Turn("user", ""), Turn("assistant", "")]).has_content
    assert Transcript([Turn("assistant", "", [{"name": "f", "arguments": {}}])]).has_content
