"""What span- and trace-level evaluators see: one span, or one trace's spans in order, as plain views.

A SpanView is read from a protobuf span with the transcript builder's own parsing, so the three
message shapes (OpenInference, OTel GenAI, OpenLLMetry) and their tool calls are understood the same
way at every level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

from collector_eval.evaluation.transcript.builder import span_messages
from collector_eval.evaluation.transcript.messages import SpanRecord, as_text, indexed, parse_arguments, span_records
from collector_eval.evaluation.transcript.model import Turn
from collector_eval.evaluation.transcript.readers import READERS, Reader, tool_run

# gen_ai.operation.name and traceloop.span.kind values, as OpenInference span kinds.
_GENAI_KINDS = {
    "chat": "LLM",
    "text_completion": "LLM",
    "generate_content": "LLM",
    "execute_tool": "TOOL",
    "invoke_agent": "AGENT",
    "create_agent": "AGENT",
    "embeddings": "EMBEDDING",
}
_TRACELOOP_KINDS = {"workflow": "CHAIN", "task": "CHAIN", "agent": "AGENT", "tool": "TOOL"}


@dataclass(frozen=True)
class ToolDefinition:
    name: str
    description: str = ""
    parameters: dict[str, Any] | None = None  # the JSON schema of its arguments, when recorded


@dataclass(frozen=True, eq=False)
class SpanView:
    trace_id: str  # hex
    span_id: str  # hex
    parent_span_id: str  # hex; empty for a root span
    name: str
    kind: str  # an OpenInference span kind (LLM, TOOL, CHAIN, AGENT, ...), UNKNOWN when none applies
    start_ns: int
    attributes: Mapping[str, Any]
    # The new input this span answers (an LLM span: the messages after the last assistant one, user
    # text and tool results; a tool span: its arguments) and what it produced. None: not recorded.
    input: str | None
    output: str | None
    context: tuple[Turn, ...]  # an LLM span's input messages: the conversation it was given
    tools: tuple[ToolDefinition, ...]  # the tools offered to the model
    tool_calls: tuple[dict[str, Any], ...]  # the calls the model made: {"name", "arguments"}
    tool_name: str = ""  # a tool-execution span: the tool it ran


@dataclass(frozen=True, eq=False)
class TraceView:
    trace_id: str
    spans: tuple[SpanView, ...]  # by start time

    @property
    def root(self) -> SpanView:
        """The trace's root span, or its earliest span when the root was not received."""
        return next((s for s in self.spans if not s.parent_span_id), self.spans[0])


def span_view(span: SpanRecord, readers: tuple[Reader, ...] = READERS) -> SpanView:
    attrs = span.attributes
    inputs, outputs = span_messages(span, readers)
    run = tool_run(span, readers)
    if inputs or outputs:
        text_in: str | None = _input_text(_after_last_assistant(inputs))
        text_out: str | None = "\n".join(t.content for t in outputs if t.content) if outputs else None
        calls = tuple(call for turn in outputs for call in turn.tool_calls)
    else:
        text_in = _first_text(attrs, "gen_ai.tool.call.arguments", "input.value", "traceloop.entity.input")
        text_out = _first_text(attrs, "gen_ai.tool.call.result", "output.value", "traceloop.entity.output")
        calls = ()
    return SpanView(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex(),
        name=span.name,
        kind=_kind(attrs, bool(inputs or outputs), run is not None),
        start_ns=span.start,
        attributes=attrs,
        input=text_in,
        output=text_out,
        context=tuple(inputs),
        tools=_tools(attrs),
        tool_calls=calls,
        tool_name=run.name if run is not None else "",
    )


def span_views(resource_spans: Iterable[ResourceSpans], readers: tuple[Reader, ...] = READERS) -> list[SpanView]:
    """Every span, in start order; read as the transcript is (transcript.mappings first: builder.readers_for)."""
    return [span_view(record, readers) for record in span_records(resource_spans)]


def trace_views(resource_spans: Iterable[ResourceSpans], readers: tuple[Reader, ...] = READERS) -> list[TraceView]:
    """Spans grouped by trace, each trace's in start order; traces in the order they started."""
    traces: dict[str, list[SpanView]] = {}
    for view in span_views(resource_spans, readers):
        traces.setdefault(view.trace_id, []).append(view)
    return [TraceView(trace_id, tuple(spans)) for trace_id, spans in traces.items()]


def _after_last_assistant(turns: list[Turn]) -> list[Turn]:
    last = max((i for i, t in enumerate(turns) if t.role == "assistant"), default=-1)
    return turns[last + 1 :]


def _input_text(turns: list[Turn]) -> str:
    turns = [t for t in turns if t.content or t.tool_calls]
    if len(turns) == 1 and turns[0].role == "user":
        return turns[0].content
    # Several messages, or tool results: their roles and tools say what each part is.
    return "\n\n".join(t.render() for t in turns)


def _first_text(attrs: Mapping[str, Any], *keys: str) -> str | None:
    return next((as_text(attrs[key]) for key in keys if key in attrs), None)


def _kind(attrs: Mapping[str, Any], has_messages: bool, runs_tool: bool) -> str:
    kind = attrs.get("openinference.span.kind")
    if kind:
        return as_text(kind).upper()
    kind = _GENAI_KINDS.get(as_text(attrs.get("gen_ai.operation.name")))
    if kind:
        return kind
    kind = _TRACELOOP_KINDS.get(as_text(attrs.get("traceloop.span.kind")))
    if kind:
        return kind
    if has_messages or "llm.request.type" in attrs:
        return "LLM"
    return "TOOL" if runs_tool else "UNKNOWN"


def _tools(attrs: Mapping[str, Any]) -> tuple[ToolDefinition, ...]:
    """Tools offered to the model: OpenInference `llm.tools.*`, OTel GenAI `gen_ai.tool.definitions`,
    OpenLLMetry's flattened `llm.request.functions.*`."""
    # parse_arguments: JSON text as a value, where an attribute length limit may have cut it.
    entries: list[Any] = [parse_arguments(t.get("tool.json_schema")) for t in indexed(attrs, "llm.tools")]
    definitions = parse_arguments(attrs.get("gen_ai.tool.definitions"))
    if isinstance(definitions, list):
        entries += definitions
    entries += [
        {**f, "parameters": parse_arguments(f.get("parameters"))} for f in indexed(attrs, "llm.request.functions")
    ]
    tools = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        # Chat Completions nests the function; the Responses API and the semconv do not.
        function = entry.get("function")
        if not isinstance(function, dict):
            function = entry
        if function.get("name"):
            parameters = function.get("parameters")
            tools.append(
                ToolDefinition(
                    name=as_text(function["name"]),
                    description=as_text(function.get("description")),
                    parameters=parameters if isinstance(parameters, dict) else None,
                )
            )
    return tuple(tools)
