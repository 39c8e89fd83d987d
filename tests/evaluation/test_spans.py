"""SpanView and TraceView read from the shared corpus, recorded from real instrumentation libraries."""

from __future__ import annotations

from collector_eval.evaluation.transcript.messages import span_record
from collector_eval.evaluation.transcript.spans import (
    span_view,
    span_views,
    trace_views,
)
from collector_eval.otlp.json_format import load_otlp_json
from tests.support.corpus import CORPUS
from tests.support.judging import raw_span


def views(folder: str):
    return span_views(load_otlp_json(CORPUS / folder / "otlp.json").resource_spans)


def test_openinference_tool_calls_and_definitions() -> None:
    llm = [v for v in views("openinference_openai_tools") if v.kind == "LLM"]
    first = llm[0]
    assert first.input == "What's the weather in Paris right now?"
    assert first.output == "" and first.tool_calls == ({"name": "get_weather", "arguments": {"city": "Paris"}},)
    assert [t.name for t in first.tools] == ["get_weather", "convert_currency"]
    assert first.tools[0].parameters["required"] == ["city"]
    # The next call's new input is the tool result, named by the call it answers.
    assert llm[1].input.startswith("[tool get_weather]\n") and "partly cloudy" in llm[1].output
    parallel = next(v for v in llm if len(v.tool_calls) == 2)
    assert [c["arguments"]["city"] for c in parallel.tool_calls] == ["Tokyo", "London"]


def test_tool_spans_of_each_convention() -> None:
    oi = [v for v in views("openinference_openai_tools") if v.kind == "TOOL"]
    genai = [v for v in views("otel_genai_v2_latest") if v.kind == "TOOL"]
    traceloop = [v for v in views("traceloop") if v.kind == "TOOL"]
    assert (oi[0].tool_name, oi[0].input) == ("get_weather", '{"city": "Paris"}')
    assert (genai[0].tool_name, genai[0].input) == ("get_weather", '{"city":"Lisbon"}')
    assert "Lisbon" in genai[0].output
    assert traceloop[0].tool_name == "convert_currency" and '"amount": 120' in traceloop[0].input


def test_genai_definitions_and_kinds() -> None:
    loop = views("traceloop")
    assert {v.kind for v in loop} == {"CHAIN", "LLM", "TOOL"}
    llm = next(v for v in loop if v.kind == "LLM")
    assert [t.name for t in llm.tools] == ["convert_currency"] and llm.tools[0].description
    genai = views("otel_genai_v2_latest")
    assert {v.kind for v in genai} == {"UNKNOWN", "LLM", "TOOL"}


def test_no_content_capture_leaves_input_and_output_unrecorded() -> None:
    llm = [v for v in views("otel_genai_v2_default_nocontent") if v.kind == "LLM"]
    assert llm and all(v.input is None and v.output is None for v in llm)


def test_traces_group_spans_in_order_with_their_root() -> None:
    traces = trace_views(load_otlp_json(CORPUS / "openai_agents" / "otlp.json").resource_spans)
    assert len({t.trace_id for t in traces}) == len(traces) > 1
    for t in traces:
        starts = [s.start_ns for s in t.spans]
        assert starts == sorted(starts) and t.root.parent_span_id == ""
    math = next(t for t in traces if any(s.tool_name == "add" for s in t.spans))
    assert [s.tool_name for s in math.spans if s.tool_name] == ["add"]


def test_flattened_openllmetry_functions_are_tool_definitions() -> None:
    view = span_view(
        span_record(
            raw_span(
                1,
                {
                    "llm.request.type": "chat",
                    "gen_ai.prompt.0.role": "user",
                    "gen_ai.prompt.0.content": "hi",
                    "gen_ai.completion.0.role": "assistant",
                    "gen_ai.completion.0.content": "hello",
                    "llm.request.functions.0.name": "lookup",
                    "llm.request.functions.0.description": "Find a thing",
                    "llm.request.functions.0.parameters": '{"type": "object", "properties": {"q": {"type": "string"}}}',
                },
            )
        )
    )
    assert (view.kind, view.input, view.output) == ("LLM", "hi", "hello")
    assert view.tools[0].name == "lookup" and view.tools[0].parameters["properties"] == {"q": {"type": "string"}}
