"""One reader per instrumentation convention. Each reader module gives `messages(span)` (a span's
input and output messages, or None when the span is not in its convention) and `tool_run(span)`
(a tool execution, as far as its keys say). A span's messages come from the first reader that
recognises them; a tool run takes each field from the first reader that has it. Framework readers
come first: they know their wrapper spans, which repeat what the model calls hold."""

from __future__ import annotations

from collector_eval.evaluation.transcript.messages import Message, SpanRecord, ToolRun
from collector_eval.evaluation.transcript.readers import (
    genai,
    langfuse,
    mlflow,
    openinference,
    openllmetry,
    smolagents,
    strands,
    vercel,
)

# In order of precedence: a span carrying the GenAI JSON attributes is read by them, whatever else it has.
READERS = (vercel, langfuse, mlflow, strands, smolagents, genai, openinference, openllmetry)


def llm_messages(span: SpanRecord) -> tuple[list[Message], list[Message]]:
    """A span's input messages and output messages (none for a span that is not an LLM call)."""
    for reader in READERS:
        found = reader.messages(span)
        if found is not None:
            return found
    return [], []


def tool_run(span: SpanRecord) -> ToolRun | None:
    """A tool execution span: OTel GenAI execute_tool, OpenInference TOOL, or a Traceloop tool task."""
    runs = [reader.tool_run(span) for reader in READERS]
    name = next((run.name for run in runs if run.name), "")
    if not name:
        return None
    result = next((run.result for run in runs if run.result is not None), None)
    return ToolRun(name, next((run.id for run in runs if run.id), None), result)
